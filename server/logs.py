"""How the server logs: uvicorn's own format, for our loggers too. Without it, a line at
INFO from commpulse would go nowhere and a warning would reach stderr bare, with no level."""

import copy
from typing import Any

from uvicorn.config import LOGGING_CONFIG

OURS = ("commpulse", "server", "store", "schema")  # every logger of ours is under one of these

LOG_CONFIG: dict[str, Any] = copy.deepcopy(LOGGING_CONFIG)
LOG_CONFIG["formatters"]["commpulse"] = {
    "()": "uvicorn.logging.DefaultFormatter",
    "fmt": "%(levelprefix)s %(name)s: %(message)s",
}
LOG_CONFIG["handlers"]["commpulse"] = {
    "formatter": "commpulse",
    "class": "logging.StreamHandler",
    "stream": "ext://sys.stderr",
}
LOG_CONFIG["loggers"] |= {
    name: {"handlers": ["commpulse"], "level": "INFO", "propagate": False} for name in OURS
}
