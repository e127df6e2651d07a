"""The CareLoop web application: back office, public pages and webhooks."""

from admin.app import create_app

__all__ = ["create_app"]
