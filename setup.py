"""Packaging for CareLoop: the core registry, built-in plugins and the back office."""

from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py


class BuildPyWithCatalogues(build_py):
    """build_py that also compiles core/translations/*/LC_MESSAGES/*.po into .mo files.

    A checkout or editable install needs no build step: core.i18n compiles missing
    or stale .mo files on first use.
    """

    def run(self) -> None:
        super().run()
        try:
            from babel.messages.mofile import write_mo
            from babel.messages.pofile import read_po
        except ImportError:  # core.i18n compiles them on first use instead
            self.warn("Babel missing at build time: .mo files not compiled")
            return
        for po_file in sorted(Path(self.build_lib, "core", "translations").glob("*/*/*.po")):
            with po_file.open("rb") as fp:
                catalog = read_po(fp, locale=po_file.parent.parent.name)
            with po_file.with_suffix(".mo").open("wb") as out:
                write_mo(out, catalog, use_fuzzy=False)


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
        "core": [
            "migrations/*.py",
            "migrations/*.mako",
            "migrations/versions/*.py",
            "demo/*.json",
            "translations/*/LC_MESSAGES/*.po",
        ],
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
        "Flask-Admin==2.2.0",
        "Flask-SQLAlchemy-Lite>=0.1,<1",
        "Flask-Login>=0.6.3,<0.7",
        "Flask-Babel>=4,<5",
        # 3.4 removes tuple choices for SelectField, which Flask-Admin 2.2 and our forms pass
        "WTForms>=3.1,<3.4",
        "argon2-cffi>=23.1,<26",
        "itsdangerous>=2.1,<3",
        "Jinja2>=3.1,<4",
        "dramatiq>=1.17,<3",
        "httpx>=0.27,<1",
        "sendgrid>=6.11,<7",
        "smsapi-client>=2.9,<3",
        "croniter>=2,<8",
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
            "pytest-timeout>=2.2,<3",
            "hypothesis>=6.100,<7",
            "playwright>=1.45,<2",
            "dramatiq[redis]>=1.17,<3",
            "psycopg[binary]>=3.1,<4",
            "ruff>=0.6",
            "gunicorn>=22,<24",
        ],
    },
    entry_points={"console_scripts": ["careloop=core.cli:main"]},
    cmdclass={"build_py": BuildPyWithCatalogues},
    classifiers=[
        "Programming Language :: Python :: 3.11",
        "Framework :: Flask",
        "Topic :: Office/Business",
    ],
)
