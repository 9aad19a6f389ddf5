"""The pure domain of the hall: tickets, numbering, call policy, waits. Stdlib only, no I/O."""
