"""The counter pages (placeholder until the counter_client lands)."""
from flask import Blueprint, Flask

bp = Blueprint("counter_client", __name__, url_prefix="/counter")


def init_app(app: Flask) -> None:
    """Register the counter_client pages."""
    app.register_blueprint(bp)
