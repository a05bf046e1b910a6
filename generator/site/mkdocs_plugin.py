"""The mkdocs adapter: `plugins: [catalog]` in mkdocs.yml.

A thin layer. It loads the catalog and its git history, asks `generator.site.render` for the pages
and files, and hands them to mkdocs as in-memory files (`File.generated`); it also watches the
catalog and the templates under `mkdocs serve`. Everything the site shows is decided elsewhere, so
another engine could replace mkdocs. Only this module imports mkdocs.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from mkdocs.config import base
from mkdocs.config import config_options as c
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.livereload import LiveReloadServer
from mkdocs.plugins import BasePlugin
from mkdocs.structure.files import File, Files, InclusionLevel

from generator.gitops.gitrepo import catalog_history
from generator.metadata.layout import FILTERS_DIR
from generator.metadata.loader import load_catalog
from generator.site.render import render_site
from generator.site.views import SiteOptions, check_download_address, check_release_override

log = logging.getLogger("mkdocs.plugins.catalog")


class CatalogPluginConfig(base.Config):
    # The repository that holds catalog/, relative to mkdocs.yml.
    catalog_root = c.Type(str, default=".")
    # Jinja2 templates: pages/ for generated Markdown (the theme's custom_dir is set in mkdocs.yml).
    templates = c.Type(str, default="site_templates")
    # The branch that "edit this page" and README links point at.
    branch = c.Type(str, default="main")
    # Overrides catalog.yaml's release_url, e.g. a mirror or a local preview of release assets:
    # https, or http on 127.0.0.1 / localhost only. {name} and {version} are replaced.
    release_url = c.Optional(c.Type(str))
    # A mirror of the release assets (`catalog release mirror`): every download link, install
    # command and remote Envoy configuration points at its copy. mkdocs.yml reads $CATALOG_MIRROR.
    mirror = c.Optional(c.Type(str))


class CatalogPlugin(BasePlugin[CatalogPluginConfig]):
    """Adds every generated page of the catalog to the mkdocs build."""

    def on_config(self, config: MkDocsConfig) -> MkDocsConfig | None:
        if not config.use_directory_urls:
            raise PluginError("catalog: the site's links need 'use_directory_urls: true' in mkdocs.yml")
        if self.config.release_url is not None:
            problem = check_release_override(self.config.release_url)
            if problem:
                raise PluginError(f"catalog: release_url: {problem}")
        if self.config.mirror and (problem := check_download_address(self.config.mirror)):
            raise PluginError(f"catalog: mirror: {problem}")
        return config

    def _root(self, config: MkDocsConfig) -> Path:
        return (Path(config.config_file_path).parent / self.config.catalog_root).resolve()

    def on_files(self, files: Files, /, *, config: MkDocsConfig) -> Files | None:
        root = self._root(config)
        catalog = load_catalog(root)
        for finding in catalog.findings:
            log.warning(finding.format())
        for entry in catalog.entries.values():
            if entry.broken:
                why = f"`catalog validate {entry.display}` says why"
                log.warning(f"{entry.display}: not on the site: it does not load; {why}")
            for finding in entry.findings:  # a cases.yaml, proofs.yaml or README that does not load
                log.warning(finding.format())
        if catalog.settings is None:
            raise PluginError("catalog: catalog/catalog.yaml did not load; run `catalog validate` to see why")
        options = SiteOptions(
            repo_url=config.repo_url,
            branch=self.config.branch,
            release_url=self.config.release_url,
            mirror=self.config.mirror or None,
        )
        output = render_site(catalog, catalog_history(root), options, root / self.config.templates)
        for page in output.pages:
            if page.path in files.src_uris:
                raise PluginError(f"catalog: {config.docs_dir}/{page.path} would hide a generated page; remove it")
            file = File.generated(config, page.path, content=page.content, inclusion=_inclusion(page.path))
            # mkdocs joins edit_uri (which points at docs/ for the hand-written pages) and this
            # path, resolving '..': so a generated page's link reaches its file in the repository.
            file.edit_uri = f"../{page.edit_path}" if page.edit_path else None
            files.append(file)
        for path, content in output.files.items():
            files.append(File.generated(config, path, content=content))
        return files

    def on_serve(self, server: LiveReloadServer, /, *, config: MkDocsConfig, builder: Any) -> LiveReloadServer | None:
        root = self._root(config)
        server.watch(str(root / FILTERS_DIR.parent))
        server.watch(str(root / self.config.templates))
        return server


def _inclusion(path: str) -> InclusionLevel:
    # Filter pages are reached from the lists, never from the navigation: with thousands of them in
    # the nav, every page would carry the whole list (quadratic build time and size).
    return InclusionLevel.NOT_IN_NAV if path.startswith("filters/") else InclusionLevel.UNDEFINED
