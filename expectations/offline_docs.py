"""Data Docs that open offline: the CDN scripts and stylesheets of the Great Expectations pages are
replaced by local copies inside the site (`static/vendor/`), taken at install time from the npm
packages of `datadocs_assets.yaml` (and vl-convert's vega bundle from PyPI).

`install_assets()` runs `npm pack` once when the environment is set up (dev.py); `make_offline()`
runs after every Data Docs build: it copies the assets into the site and rewrites each page's
`<script src>` / `<link href>` to them. A page resource on another host that has no local copy
(an image on GX's web-assets host) is removed, so opening the site never sends a request off the
machine. Pure text rewriting (`rewrite_page`) is kept apart from the file handling so it is tested alone.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

__all__ = ["ASSETS_ENV", "assets_dir", "asset_urls", "install_assets", "rewrite_page", "make_offline",
           "OfflineResult", "MissingAssets"]

ASSETS_ENV = "CAREBRIDGE_DATADOCS_ASSETS"
_FILE = Path(__file__).with_name("datadocs_assets.yaml")
VENDOR = Path("static") / "vendor"
VEGA = "vega"
_VEGA_FILE = "vega/vega-bundle.js"
# <script ... src="..."></script> and <link ... href="..."> / <img ... src="..."> with an http(s) address
_SCRIPT = re.compile(r"<script\b[^>]*\bsrc=[\"'](?P<url>https?://[^\"']+)[\"'][^>]*>\s*</script>", re.I)
_LINK = re.compile(r"<link\b[^>]*\bhref=[\"'](?P<url>https?://[^\"']+)[\"'][^>]*/?>", re.I)
_IMG = re.compile(r"<img\b[^>]*\bsrc=[\"'](?P<url>https?://[^\"']+)[\"'][^>]*/?>", re.I)
_SRI = re.compile(r"\s(?:integrity|crossorigin)=(?:\"[^\"]*\"|'[^']*'|\S+)", re.I)


class MissingAssets(RuntimeError):
    """The local copies are not installed (run `python -m expectations.offline_docs install`)."""


@cache
def _settings() -> dict:
    with open(_FILE, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def asset_urls() -> dict[str, str]:
    """CDN address -> local file (relative to the vendor folder)."""
    return {url: (_VEGA_FILE if target == VEGA else target) for url, target in _settings()["urls"].items()}


def assets_dir() -> Path:
    """Where the packed assets live: `$CAREBRIDGE_DATADOCS_ASSETS`, else <venv>/share/carebridge/datadocs-assets."""
    return Path(os.environ.get(ASSETS_ENV) or Path(sys.prefix) / "share" / "carebridge" / "datadocs-assets")


def _package_dir(spec: str) -> str:
    return spec  # "name@version" (scoped names keep their "@scope/" prefix as a sub-folder)


def install_assets(dest: Path | None = None, npm: str = "npm") -> Path:
    """Pack every package of datadocs_assets.yaml with npm (install time only) and keep the files the
    pages need under `dest/<name>@<version>/`, plus the vega bundle; returns `dest`."""
    dest = Path(dest or assets_dir())
    packages: Mapping[str, dict] = _settings()["packages"]
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([npm, "pack", "--silent", "--pack-destination", tmp, *packages], check=True,
                       stdout=subprocess.DEVNULL)
        for spec, wanted in packages.items():
            name, version = spec.rsplit("@", 1)
            tarball = Path(tmp) / f"{name.lstrip('@').replace('/', '-')}-{version}.tgz"
            with tarfile.open(tarball) as archive:
                for member in archive.getmembers():
                    inner = member.name.removeprefix("package/")
                    keep = inner in wanted.get("files", []) or any(inner.startswith(d + "/") for d in wanted.get("dirs", []))
                    if keep and member.isfile():
                        target = dest / _package_dir(spec) / inner
                        target.parent.mkdir(parents=True, exist_ok=True)
                        target.write_bytes(archive.extractfile(member).read())
    import vl_convert

    (dest / _VEGA_FILE).parent.mkdir(parents=True, exist_ok=True)
    (dest / _VEGA_FILE).write_text(vl_convert.javascript_bundle(), encoding="utf-8")
    return dest


def _missing(source: Path) -> list[str]:
    return sorted({f for f in asset_urls().values() if not (source / f).is_file()})


def rewrite_page(html: str, prefix: str) -> tuple[str, int, int]:
    """`html` with every known CDN script/stylesheet pointing at `prefix` + its local file (SRI
    attributes dropped: the copy is served locally), vega loaded once, and every other off-machine
    script, stylesheet or image removed. Returns (html, rewritten, removed)."""
    urls = asset_urls()
    counts = {"rewritten": 0, "removed": 0}
    vega_loaded = False

    def replace(match: re.Match) -> str:
        nonlocal vega_loaded
        url = match.group("url").split("?", 1)[0].split("#", 1)[0]
        local = urls.get(url)
        if local is None or (local == _VEGA_FILE and vega_loaded):
            counts["removed"] += 1
            return ""
        vega_loaded = vega_loaded or local == _VEGA_FILE
        counts["rewritten"] += 1
        return _SRI.sub("", match.group(0)).replace(match.group("url"), prefix + local)

    for pattern in (_SCRIPT, _LINK, _IMG):
        html = pattern.sub(replace, html)
    return html, counts["rewritten"], counts["removed"]


@dataclass(frozen=True)
class OfflineResult:
    pages: int
    rewritten: int
    removed: int


def make_offline(site_dir: Path, source: Path | None = None) -> OfflineResult:
    """Copy the assets into `site_dir/static/vendor/` and rewrite every page of the site to use them.
    Raises MissingAssets (one line) when they were never installed."""
    site_dir, source = Path(site_dir), Path(source or assets_dir())
    missing = _missing(source)
    if missing:
        raise MissingAssets(f"the Data Docs assets are not installed in {source} (missing {missing[0]}): "
                            "run `python -m expectations.offline_docs install` (needs npm, at install time)")
    vendor = site_dir / VENDOR
    shutil.copytree(source, vendor, dirs_exist_ok=True)
    pages = rewritten = removed = 0
    for page in sorted(site_dir.rglob("*.html")):
        if vendor in page.parents:
            continue
        prefix = os.path.relpath(vendor, page.parent).replace(os.sep, "/") + "/"
        html, r, d = rewrite_page(page.read_text(encoding="utf-8"), prefix)
        if r or d:
            page.write_text(html, encoding="utf-8")
        pages, rewritten, removed = pages + 1, rewritten + r, removed + d
    return OfflineResult(pages, rewritten, removed)


def _main(argv: list[str]) -> int:
    if argv[:1] != ["install"]:
        print("usage: python -m expectations.offline_docs install [DEST]", file=sys.stderr)
        return 2
    dest = install_assets(Path(argv[1]) if len(argv) > 1 else None)
    print(f"Data Docs assets installed in {dest}")
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
