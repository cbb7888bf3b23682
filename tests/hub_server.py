"""A loopback stand-in for download.pytorch.org and the Hugging Face hub, so download tests
never reach the internet.

`FakeHub` serves torchvision checkpoints under /torchvision/FILE and hub repos the way the hub
does: a HEAD or GET of /ORG/NAME/resolve/REVISION/FILE answers X-Repo-Commit and the file's
ETag; small files come back directly (ETag: their git blob SHA-1), LFS files redirect to
/cdn/SHA256 (X-Linked-Etag, X-Linked-Size). Every GET honours `Range: bytes=N-`. Tests can
corrupt a file (same name and ETag, other bytes), cut a transfer short, put the CDN on another
host name and read the requests (with the host name used and the Authorization sent).
"""

from __future__ import annotations

import functools
import hashlib
import io
import os
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import timm
import torch
import torchvision
from timm.models._hub import save_for_hf

from vit_studio.engine.hub.catalogue import HUGGING_FACE, TORCHVISION, CatalogueEntry

COMMIT = "0123456789abcdef0123456789abcdef01234567"
LFS_FILES = ("model.safetensors",)


@dataclass
class Request:
    method: str
    path: str
    range: str | None
    host: str = ""  # the Host header: which name the client used for the server
    authorization: str | None = None


@dataclass
class FakeHub:
    torchvision_files: dict[str, bytes] = field(default_factory=dict)
    repos: dict[str, dict[str, bytes]] = field(default_factory=dict)  # repo id -> name -> bytes
    corrupt: set[str] = field(default_factory=set)  # names served with a byte changed
    cut_after: dict[str, int] = field(default_factory=dict)  # name -> bytes sent, then hang up
    requests: list[Request] = field(default_factory=list)
    url: str = ""
    # The CDN under another host name (the same server as `localhost`), as the real hub's is;
    # with `every_get_to_cdn` even small files' downloads are redirected there.
    separate_cdn: bool = False
    every_get_to_cdn: bool = False
    _server: ThreadingHTTPServer | None = None

    def start(self) -> FakeHub:
        hub = self

        class Handler(_Handler):
            fake = hub

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        # A short poll interval: shutdown() waits for one poll.
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def ranges(self) -> list[str]:
        """The Range headers of the GETs so far (None-free)."""
        return [r.range for r in self.requests if r.method == "GET" and r.range]


class _Handler(BaseHTTPRequestHandler):
    fake: FakeHub
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # noqa: A002 - quiet test output
        pass

    def do_HEAD(self):
        self._answer(body=False)

    def do_GET(self):
        self._answer(body=True)

    def _answer(self, body: bool) -> None:
        fake = self.fake
        fake.requests.append(Request(self.command, self.path, self.headers.get("Range"),
                                     self.headers.get("Host", ""),
                                     self.headers.get("Authorization")))  # fmt: skip
        parts = self.path.strip("/").split("/")
        if parts[0] == "torchvision" and len(parts) == 2 and parts[1] in fake.torchvision_files:
            return self._content(parts[1], fake.torchvision_files[parts[1]], body)
        if parts[0] == "cdn" and len(parts) == 2:
            for files in fake.repos.values():
                for name, content in files.items():
                    if hashlib.sha256(content).hexdigest() == parts[1]:
                        return self._content(name, content, body)
        if len(parts) >= 5 and parts[2] == "resolve":
            return self._resolve("/".join(parts[:2]), "/".join(parts[4:]), body)
        self._status(HTTPStatus.NOT_FOUND, {"X-Error-Code": "RepositoryNotFound"})

    def _resolve(self, repo_id: str, name: str, body: bool) -> None:
        files = self.fake.repos.get(repo_id)
        if files is None:
            return self._status(HTTPStatus.NOT_FOUND, {"X-Error-Code": "RepositoryNotFound"})
        if name not in files:
            return self._status(HTTPStatus.NOT_FOUND, {"X-Error-Code": "EntryNotFound"})
        content = files[name]
        sha256 = hashlib.sha256(content).hexdigest()
        cdn = f"http://localhost:{self.server.server_address[1]}" if self.fake.separate_cdn else ""
        if name in LFS_FILES:
            return self._status(HTTPStatus.FOUND, {
                "Location": f"{cdn}/cdn/{sha256}",
                "X-Repo-Commit": COMMIT,
                "X-Linked-Etag": f'"{sha256}"',
                "X-Linked-Size": str(len(content)),
                "ETag": '"not-the-content-hash"',
            })  # fmt: skip
        git_sha1 = hashlib.sha1(f"blob {len(content)}\0".encode() + content).hexdigest()
        extra = {"X-Repo-Commit": COMMIT, "ETag": f'"{git_sha1}"'}
        if body and self.fake.every_get_to_cdn:
            return self._status(HTTPStatus.FOUND, {"Location": f"{cdn}/cdn/{sha256}"})
        self._content(name, content, body, extra)

    def _content(self, name: str, content: bytes, body: bool, extra: dict | None = None) -> None:
        if name in self.fake.corrupt:
            content = bytes([content[0] ^ 0xFF]) + content[1:]
        start = 0
        asked = self.headers.get("Range", "")
        if asked.startswith("bytes=") and asked.endswith("-"):
            start = int(asked[len("bytes=") : -1])
            if start >= len(content):
                return self._status(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE, {})
        self.send_response(HTTPStatus.PARTIAL_CONTENT if start else HTTPStatus.OK)
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(content) - 1}/{len(content)}")
        self.send_header("Content-Length", str(len(content) - start))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        if not body:
            return
        cut = self.fake.cut_after.get(name)
        if cut is not None:
            self.wfile.write(content[start : start + cut])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(content[start:])

    def _status(self, status: HTTPStatus, headers: dict) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", "0")
        self.end_headers()


@functools.cache
def torchvision_checkpoint(name: str = "vit_fake") -> tuple[str, bytes]:
    """A tiny random torchvision ViT's state dict, named as torchvision names its files:
    NAME-<first 8 hex digits of its SHA-256>.pth. ViT-Ti's width, so its head count is known."""
    torch.manual_seed(0)
    vit = torchvision.models.VisionTransformer(
        image_size=32, patch_size=8, num_layers=1, num_heads=3, hidden_dim=192, mlp_dim=128,
        num_classes=4,
    )  # fmt: skip
    buffer = io.BytesIO()
    torch.save(vit.state_dict(), buffer)
    content = buffer.getvalue()
    return f"{name}-{hashlib.sha256(content).hexdigest()[:8]}.pth", content


@functools.cache
def timm_repo() -> dict[str, bytes]:
    """config.json + model.safetensors of a tiny random timm ViT, as timm saves them."""
    torch.manual_seed(0)
    model = timm.create_model(
        "vit_tiny_patch16_224", pretrained=False, img_size=32, patch_size=8, embed_dim=192,
        depth=1, num_heads=3, num_classes=4,
    )  # fmt: skip
    with tempfile.TemporaryDirectory() as folder:
        save_for_hf(model, folder, safe_serialization=True)
        names = ("config.json", "model.safetensors")
        return {name: (Path(folder) / name).read_bytes() for name in names}


def torchvision_entry(file: str, content: bytes) -> CatalogueEntry:
    return CatalogueEntry("vit_fake", "a fake torchvision ViT", TORCHVISION, (file,),
                          len(content), "test")  # fmt: skip


def hub_entry(repo_id: str) -> CatalogueEntry:
    files = ("config.json", "model.safetensors")
    return CatalogueEntry(repo_id, "a fake hub ViT", HUGGING_FACE, files, 0, "test", repo_id)


def serve_fake_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    """For a fixture: a running FakeHub with one torchvision file and one timm repo
    (`fake/vit-tiny`), every cache in tmp_path and every download pointed at it."""
    file, content = torchvision_checkpoint()
    hub = FakeHub(torchvision_files={file: content})
    hub.repos["fake/vit-tiny"] = dict(timm_repo())
    hub.start()
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    for variable in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HUB_OFFLINE", "HF_TOKEN",
                     "HF_TOKEN_PATH"):  # fmt: skip
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("VIT_STUDIO_TORCHVISION_URL", f"{hub.url}/torchvision")
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    for variable in ("NO_PROXY", "no_proxy"):  # a proxy of the machine must not relay these
        monkeypatch.setenv(variable, "127.0.0.1,localhost")
    assert os.environ["HF_ENDPOINT"].startswith("http://127.0.0.1:")
    try:
        yield hub
    finally:
        hub.stop()
