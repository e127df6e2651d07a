"""Packaging for CareLoop: the core registry, built-in plugins and the back office."""

from setuptools import find_packages, setup

setup(
    name="careloop",
    version="0.1.0",
    description="Plugin-based CRM and patient-engagement engine for hospitals and clinics",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="AGPL-3.0-or-later",
    python_requires=">=3.11",
    packages=find_packages(include=["core", "core.*", "plugins", "plugins.*", "admin", "admin.*"]),
    include_package_data=True,
    package_data={
        "core": ["migrations/*.py", "migrations/*.mako", "migrations/versions/*.py", "demo/*.json"],
        "plugins": ["*/migrations/*.py", "*/templates/**/*"],
        "admin": ["templates/**/*", "static/**/*"],
    },
    install_requires=[
        "SQLAlchemy>=2.0.30,<2.2",
        "alembic>=1.13,<2",
        "pluggy>=1.5,<2",
        "phonenumbers>=8.13,<10",
        "click>=8.1,<9",
        "Babel>=2.14,<3",
        "Flask>=3.0,<4",
        "dramatiq>=1.17,<3",
    ],
    extras_require={
        "postgres": ["psycopg[binary]>=3.1,<4"],
        "redis": ["dramatiq[redis]>=1.17,<3"],
        "rabbitmq": ["dramatiq[rabbitmq]>=1.17,<3"],
        "production": [
            "psycopg[binary]>=3.1,<4",
            "dramatiq[redis,rabbitmq]>=1.17,<3",
            "gunicorn>=22,<24",
        ],
        "test": [
            "pytest>=8,<10",
            "pytest-xdist>=3.5,<4",
            "hypothesis>=6.100,<7",
            "psycopg[binary]>=3.1,<4",
            "ruff>=0.6",
        ],
    },
    entry_points={"console_scripts": ["careloop=core.cli:main"]},
    classifiers=[
        "Programming Language :: Python :: 3.11",
        "Framework :: Flask",
        "Topic :: Office/Business",
    ],
)
