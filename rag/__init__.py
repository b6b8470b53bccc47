"""jauap: cited answers over Kazakh, Russian and English documents.

Importing the package changes nothing: settings are read and applied by the entry points
(rag.cli, app.py) through rag.settings."""

__version__ = "0.1.0"
