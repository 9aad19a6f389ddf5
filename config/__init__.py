"""Settings: the loader, the default hall and the service catalog."""
from config.loader import (  # noqa: F401  (re-exported API)
    Catalog,
    ConfigError,
    DeviceDef,
    HallDef,
    QueueRules,
    Sector,
    ServiceDef,
    Settings,
    WindowDef,
    load_catalog,
    load_hall,
    load_settings,
)
