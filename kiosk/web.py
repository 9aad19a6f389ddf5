"""The touch kiosk's pages (placeholder until the kiosk lands)."""
from flask import Blueprint, Flask

bp = Blueprint("kiosk", __name__, url_prefix="/kiosk")


def init_app(app: Flask) -> None:
    """Register the kiosk pages."""
    app.register_blueprint(bp)
