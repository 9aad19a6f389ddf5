"""The display board pages (placeholder until the display_board lands)."""
from flask import Blueprint, Flask

bp = Blueprint("display_board", __name__, url_prefix="/board")


def init_app(app: Flask) -> None:
    """Register the display_board pages."""
    app.register_blueprint(bp)
