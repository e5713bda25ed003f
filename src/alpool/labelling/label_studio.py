"""Label Studio, the labelling tool alpool's exports are made for: task URLs, labelling config, setup.

Label Studio serves local images through its *Local files* storage. The decisions (tried on a real
Label Studio 1.x server, see ``tests/test_label_studio.py``):

- ``LOCAL_FILES_DOCUMENT_ROOT`` is the **parent** of the image folder: Label Studio refuses a
  storage whose path is the document root itself ("add a subdirectory").
- A *Local files* storage is added to the project with the image folder as its path (it grants
  the project access to the files; it need not be synced, the tasks come from ``label_studio.json``).
- A task's image URL is ``/data/local-files/?d=<folder name>/<relative path>``, every part
  percent-encoded (``+``, ``#``, ``&``, spaces and non-ASCII letters would otherwise 404).
- ``label_config.xml`` shows the image and a single-choice ``label`` field with the classes known so
  far, or a free-text ``label`` field before any class exists. Naming the field ``label`` makes
  Label Studio's CSV and JSON_MIN exports carry a ``label`` column: they import with no option.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote
from xml.sax.saxutils import quoteattr

LOCAL_FILES = "/data/local-files/?d="
LABEL_FIELD = "label"  # the name of the Choices / TextArea tag (the label column of LS exports)


def encode(path: str) -> str:
    """Return ``path`` percent-encoded for a URL query (``/`` kept; ``+ # & %`` and spaces encoded)."""
    return quote(path, safe="/")


def default_prefix(folder: Path) -> str:
    """Return the local-files URL prefix that serves ``folder`` when the document root is its parent."""
    return f"{LOCAL_FILES}{encode(folder.name)}/"


def image_url(prefix: str, path: str) -> str:
    """Return the task URL of ``path`` (relative to the image folder)."""
    return prefix + encode(path)


def path_of_url(url: str) -> str:
    """Return the path a task URL names: the decoded ``d=`` value of a local-files URL, else the URL decoded."""
    text = url.split("?d=", 1)[1] if "?d=" in url else url
    return unquote(text)


@dataclass(frozen=True)
class Setup:
    """How to serve an image folder to Label Studio."""

    folder: Path  # absolute: the storage path
    prefix: str  # the URL prefix written into the tasks

    @property
    def document_root(self) -> Path:
        """Return ``LOCAL_FILES_DOCUMENT_ROOT``: the image folder's parent."""
        return self.folder.parent

    @property
    def default(self) -> bool:
        """Return whether the prefix is the one this setup serves (not a user's own ``--url-prefix``)."""
        return self.prefix == default_prefix(self.folder)

    def environment(self) -> dict[str, str]:
        """Return the environment variables Label Studio must be started with."""
        return {"LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED": "true",
                "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT": str(self.document_root)}

    def lines(self, export_folder: Path) -> list[str]:
        """Return the setup as short lines a person follows (also written to ``label_studio_setup.txt``)."""
        if not self.default:
            return [f"Label Studio: the task URLs start with your --url-prefix {self.prefix!r}; serve the "
                    f"files of {self.folder} there, create a project with {export_folder / 'label_config.xml'} "
                    f"and import {export_folder / 'label_studio.json'}"]
        env = " ".join(f"{k}={quote_shell(v)}" for k, v in self.environment().items())
        return [
            f"1. start Label Studio as: {env} label-studio start",
            f"2. new project; Settings > Labeling Interface > Code: paste {export_folder / 'label_config.xml'}",
            f"3. Settings > Cloud Storage > Add Source Storage > Local files, absolute path {self.folder} "
            "(no need to sync)",
            f"4. Data Import: {export_folder / 'label_studio.json'}",
            "5. label, then Export (CSV, JSON or JSON_MIN) and run `alpool import-labels FILE`",
        ]


def quote_shell(text: str) -> str:
    """Return ``text`` quoted for a POSIX shell when it needs it."""
    import shlex

    return shlex.quote(text)


def label_config(classes: list[str]) -> str:
    """Return ``label_config.xml``: the image and the classes as single choices (free text with none)."""
    if classes:
        choices = "\n".join(f"    <Choice value={quoteattr(c)}/>" for c in classes)
        field = (f'  <Choices name="{LABEL_FIELD}" toName="image" choice="single" showInline="true" required="true">\n'
                 f"{choices}\n  </Choices>")
    else:
        field = (f'  <Header value="Type the class of the image (no class list yet)"/>\n'
                 f'  <TextArea name="{LABEL_FIELD}" toName="image" maxSubmissions="1" required="true"/>')
    return f'<View>\n  <Image name="image" value="$image"/>\n{field}\n</View>\n'
