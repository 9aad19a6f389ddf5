"""The hall server: queue engine, storage, REST API, real time, pages and CLI."""
