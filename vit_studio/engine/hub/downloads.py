"""Download a catalogue entry into the standard caches: resumable, verified, cancellable.

Nothing here runs unless a user asked for a download (`vit-studio models --download`, a
`--model hf:...` value, the GUI's download button); the caches are read without a network.

Each file is written to a partial file beside its final place (`caches`), appended to with an
HTTP Range request when a download was stopped (Ctrl-C, cancel, a lost connection), checked
against the hash its server names, and only then renamed into place; a file that fails the
check is deleted, never opened. The hash: torchvision's file names carry the first hex digits
of their SHA-256 (`vit_b_16-c867db91.pth`, torch.hub's check); the Hugging Face hub names each
file's hash in its ETag: the SHA-256 of LFS files (X-Linked-Etag), the git blob SHA-1 of the
small ones.

Written over urllib rather than huggingface_hub's `hf_hub_download`: that has no cancel hook
(only a tqdm class to draw with), does not check what it downloaded against its hash, reads
HF_ENDPOINT once at import (so a session can not be pointed at another hub later), hands
xet-backed files to hf_xet, which bypasses the HTTP Range resume and any server but the hub, and
is not otherwise a dependency of ViT Studio. The part of the hub protocol it needs is small: a
HEAD of `ENDPOINT/REPO/resolve/REVISION/FILE` (not following the redirect to the CDN) answers
X-Repo-Commit, the ETag and the size; a GET of where it redirects serves the bytes. The cache
layout is huggingface_hub's own (`caches`), so the two share their downloads.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import shutil
import socket
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from vit_studio import __version__
from vit_studio.engine.callbacks import Cancel, Progress
from vit_studio.engine.errors import Cancelled, StudioError, user_error
from vit_studio.engine.fileio import durable_replace
from vit_studio.engine.hub import caches
from vit_studio.engine.hub.catalogue import TORCHVISION, CatalogueEntry
from vit_studio.engine.locations import default_hf_hub_cache

TORCHVISION_URL = "https://download.pytorch.org/models"
HUB_ENDPOINT = "https://huggingface.co"
TORCHVISION_URL_VARIABLE = "VIT_STUDIO_TORCHVISION_URL"
HUB_ENDPOINT_VARIABLE = "HF_ENDPOINT"
CHUNK_BYTES = 1 << 16  # how often progress is reported and cancel polled
TIMEOUT_S = 30.0  # per connection attempt and per read: a silent server is a lost one
_HASH_READ_BYTES = 1 << 20
_MAX_HUB_REDIRECTS = 5
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_GIT_SHA1 = re.compile(r"^[0-9a-f]{40}$")
_TORCH_HUB_HASH = re.compile(r"-([a-f0-9]+)\.")  # torch.hub's HASH_REGEX


@dataclass(frozen=True)
class _Check:
    """How a finished file is verified: `digest` of the content starts with `expected`."""

    algorithm: str  # "sha256", or "git-sha1" (sha1 of b"blob <size>\0" + content)
    expected: str
    said_by: str  # where the expected hash came from, for the message


@dataclass(frozen=True)
class _RemoteFile:
    name: str  # for people
    url: str
    size: int | None  # exact, when the server said it before the transfer
    partial: Path
    final: Path
    check: _Check
    authorised: bool = False  # send the hub token (to the hub itself only, never its CDN)


def torchvision_base_url() -> str:
    """Where torchvision checkpoints come from; VIT_STUDIO_TORCHVISION_URL replaces it."""
    return (os.environ.get(TORCHVISION_URL_VARIABLE) or TORCHVISION_URL).rstrip("/")


def hub_endpoint() -> str:
    """The Hugging Face hub, read from HF_ENDPOINT at each download (not once at import)."""
    return (os.environ.get(HUB_ENDPOINT_VARIABLE) or HUB_ENDPOINT).rstrip("/")


def download(
    entry: CatalogueEntry, progress: Progress | None = None, cancel: Cancel | None = None
) -> Path:
    """Fetch `entry` into its standard cache unless it is there already; return what
    `load_model` opens (the checkpoint file, or the hub snapshot folder).

    `progress(done, total)` counts bytes of all the entry's files, including those already on
    disk from an earlier try; `cancel()` is polled every `CHUNK_BYTES` and stops the download
    by raising `Cancelled`, keeping the partial file for the next try to resume. Anything the
    user can fix (no network, a lost connection, a failed check, a full disk) is a
    `StudioError` with one line.
    """
    existing = caches.local_path(entry)
    if existing is not None:
        return existing
    try:
        if entry.source == TORCHVISION:
            return _download_torchvision(entry, progress, cancel)
        return _download_hub(entry, progress, cancel)
    except OSError as exc:
        # Network failures are described where they happen; what is left is the cache's disk.
        known = user_error(exc, f"downloading {entry.name}", writing=True)
        if known is None:
            raise
        raise known from exc


def _download_torchvision(
    entry: CatalogueEntry, progress: Progress | None, cancel: Cancel | None
) -> Path:
    name = entry.files[0]
    found = _TORCH_HUB_HASH.search(name)
    if found is None:
        raise StudioError(f"{name}: a torchvision file name without its hash; fix the catalogue")
    remote = _RemoteFile(
        name=name,
        url=f"{torchvision_base_url()}/{urllib.parse.quote(name)}",
        size=None,
        partial=caches.torchvision_partial(entry),
        final=caches.torchvision_path(entry),
        check=_Check("sha256", found.group(1), "its file name"),
    )
    _fetch(remote, entry, done_before=0, total=None, progress=progress, cancel=cancel)
    return remote.final


def _download_hub(entry: CatalogueEntry, progress: Progress | None, cancel: Cancel | None) -> Path:
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        raise StudioError(
            f"{entry.repo_id}: not in the Hugging Face cache ({default_hf_hub_cache()}) and "
            "HF_HUB_OFFLINE is set; unset it to download the model"
        )
    commit = ""
    remotes = []
    for name in entry.files:
        remote, file_commit = _hub_file(entry, name)
        if commit and file_commit != commit:
            raise StudioError(f"{entry.repo_id}: changed while its files were looked up; try again")
        commit = file_commit
        remotes.append(remote)
    sizes = [remote.size or 0 for remote in remotes]
    missing = [r for r in remotes if not r.final.is_file()]
    _check_free_space(
        caches.repo_folder(entry.repo_id) / "blobs",
        sum((r.size or 0) - _partial_size(r) for r in missing),
    )
    done = 0
    for remote, size in zip(remotes, sizes, strict=True):
        if not remote.final.is_file():
            _fetch(remote, entry, done_before=done, total=sum(sizes), progress=progress,
                   cancel=cancel)  # fmt: skip
        done += size
        if progress is not None:
            progress(done, sum(sizes))
        caches.link_into_snapshot(entry.repo_id, commit, remote.name, remote.final)
    caches.write_ref(entry.repo_id, entry.revision, commit)
    return caches.snapshot_folder(entry.repo_id, commit)


def _hub_file(entry: CatalogueEntry, name: str) -> tuple[_RemoteFile, str]:
    """What the hub says of one file (where to get it, its size and hash) and the commit."""
    path = "/".join(urllib.parse.quote(part) for part in (*entry.repo_id.split("/"), "resolve"))
    url = f"{hub_endpoint()}/{path}/{urllib.parse.quote(entry.revision, safe='')}/{name}"
    headers, download_url = _hub_head(url, entry, name)
    commit = headers.get("X-Repo-Commit", "")
    etag = _normalise_etag(headers.get("X-Linked-Etag") or headers.get("ETag") or "")
    size_text = headers.get("X-Linked-Size") or headers.get("Content-Length") or ""
    if not _GIT_SHA1.match(commit) or not etag or "/" in etag:
        raise StudioError(
            f"{url}: the server did not say which commit and file hash it serves; is "
            f"{HUB_ENDPOINT_VARIABLE} ({hub_endpoint()}) a Hugging Face hub?"
        )
    if _SHA256.match(etag):
        check = _Check("sha256", etag, "the hub's ETag")
    elif _GIT_SHA1.match(etag):
        check = _Check("git-sha1", etag, "the hub's ETag")
    else:
        raise StudioError(f"{url}: the hub's ETag {etag!r} is not a file hash; try again later")
    remote = _RemoteFile(
        name=name,
        url=download_url,
        size=int(size_text) if size_text.isdigit() else None,
        partial=caches.incomplete_path(entry.repo_id, etag),
        final=caches.blob_path(entry.repo_id, etag),
        check=check,
        authorised=_same_host(download_url, hub_endpoint()),
    )
    return remote, commit


def _hub_head(url: str, entry: CatalogueEntry, name: str) -> tuple[http.client.HTTPMessage, str]:
    """The hub's headers for `url` and the URL to GET: the CDN it redirects to, or itself.

    Redirects within the hub (a renamed repo) are followed, as huggingface_hub does.
    """
    opener = urllib.request.build_opener(_NoRedirects())
    for _ in range(_MAX_HUB_REDIRECTS):
        request = urllib.request.Request(url, method="HEAD", headers=_headers())
        _authorise(request)
        try:
            with opener.open(request, timeout=TIMEOUT_S) as response:
                return response.headers, url
        except urllib.error.HTTPError as exc:
            location = exc.headers.get("Location", "")
            if not (300 <= exc.code < 400 and location):
                raise _http_failure(exc, url, entry, name) from exc
            target = urllib.parse.urljoin(url, location)
            if not _same_host(target, url) or exc.headers.get("X-Repo-Commit"):
                return exc.headers, target
            url = target
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            raise _unreachable(url, exc, entry) from exc
    raise StudioError(f"{url}: the hub redirected too often; try again later")


def _fetch(
    remote: _RemoteFile,
    entry: CatalogueEntry,
    *,
    done_before: int,
    total: int | None,
    progress: Progress | None,
    cancel: Cancel | None,
) -> None:
    """Get `remote` into its partial file (resuming what is there), verify it, move it into
    place. `done_before` and `total` place its bytes in the progress of the whole entry."""
    start = _partial_size(remote)
    if remote.size is not None and start > remote.size:
        remote.partial.unlink()  # longer than the file itself: not a part of it
        start = 0
    if remote.size is None or start < remote.size:
        _transfer(remote, entry, start, done_before, total, progress, cancel)
    _verify(remote, entry)
    durable_replace(remote.partial, remote.final)


def _transfer(
    remote: _RemoteFile,
    entry: CatalogueEntry,
    start: int,
    done_before: int,
    total: int | None,
    progress: Progress | None,
    cancel: Cancel | None,
) -> None:
    request = urllib.request.Request(remote.url, headers=_headers())
    if remote.authorised:
        _authorise(request)
    if start:
        request.add_header("Range", f"bytes={start}-")
    try:
        response = urllib.request.urlopen(request, timeout=TIMEOUT_S)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and start:
            return  # the partial file is already whole: its check decides
        raise _http_failure(exc, remote.url, entry, remote.name) from exc
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        raise _unreachable(remote.url, exc, entry) from exc
    with response:
        if start and response.status != 206:
            start = 0  # the server ignored the Range: it sends the whole file again
        length = response.headers.get("Content-Length", "")
        expected_end = start + int(length) if length.isdigit() else remote.size
        if total is None:
            total = expected_end or 0
        if remote.size is None and expected_end is not None:
            _check_free_space(remote.partial.parent, expected_end - start)
        done = start
        with _open_partial(remote.partial, append=bool(start)) as out:
            while True:
                if cancel is not None and cancel():
                    raise Cancelled(
                        f"download of {entry.name} stopped; {remote.partial} is kept and the "
                        "next download resumes it"
                    )
                try:
                    chunk = response.read(CHUNK_BYTES)
                except (OSError, http.client.HTTPException) as exc:
                    raise _connection_lost(remote, entry, done, expected_end) from exc
                if not chunk:
                    break
                _write(out, chunk, remote.partial)
                done += len(chunk)
                if progress is not None:
                    progress(done_before + done, max(total, done_before + done))
    if expected_end is not None and done < expected_end:
        raise _connection_lost(remote, entry, done, expected_end)


def _verify(remote: _RemoteFile, entry: CatalogueEntry) -> None:
    check = remote.check
    try:
        digest = _digest(remote.partial, check.algorithm)
    except OSError as exc:
        raise _disk_error(exc, "checking", remote.partial) from exc
    if digest.startswith(check.expected):
        return
    remote.partial.unlink(missing_ok=True)
    algorithm = check.algorithm.replace("git-sha1", "git SHA-1").replace("sha256", "SHA-256")
    raise StudioError(
        f"{remote.name} of {entry.name}: the download does not match its {algorithm} "
        f"({digest[: len(check.expected)]}, {check.said_by} says {check.expected}); it was "
        "deleted, download it again"
    )


def _digest(path: Path, algorithm: str) -> str:
    if algorithm == "git-sha1":
        hasher = hashlib.sha1(f"blob {path.stat().st_size}\0".encode())
    else:
        hasher = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(_HASH_READ_BYTES):
            hasher.update(block)
    return hasher.hexdigest()


def _partial_size(remote: _RemoteFile) -> int:
    try:
        return remote.partial.stat().st_size
    except FileNotFoundError:
        return 0


def _open_partial(path: Path, *, append: bool):
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return path.open("ab" if append else "wb")
    except OSError as exc:
        raise _disk_error(exc, "downloading", path) from exc


def _write(out, chunk: bytes, path: Path) -> None:
    try:
        out.write(chunk)
    except OSError as exc:
        raise _disk_error(exc, "downloading", path) from exc


def _check_free_space(folder: Path, needed: int) -> None:
    """Refuse before writing a byte when `needed` more bytes do not fit on `folder`'s disk."""
    if needed <= 0:
        return
    folder.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(folder).free
    if needed > free:
        raise StudioError(
            f"{folder}: the download needs {_mib(needed)} and the disk has {_mib(free)} free; "
            "free some space, or point TORCH_HOME / HF_HOME at another disk"
        )


def _headers() -> dict[str, str]:
    return {"User-Agent": f"vit-studio/{__version__}", "Accept-Encoding": "identity"}


def _authorise(request: urllib.request.Request) -> None:
    """The user's Hugging Face token, for gated and private repos; unredirected, so it never
    travels on to another server."""
    token = os.environ.get("HF_TOKEN") or _stored_token()
    if token:
        request.add_unredirected_header("Authorization", f"Bearer {token}")


def _stored_token() -> str | None:
    # Where `hf auth login` keeps it: HF_TOKEN_PATH, else $HF_HOME/token.
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    home = Path(os.environ.get("HF_HOME") or cache / "huggingface").expanduser()
    path = Path(os.environ.get("HF_TOKEN_PATH") or home / "token").expanduser()
    try:
        return path.read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def _normalise_etag(etag: str) -> str:
    return etag.removeprefix("W/").strip('"')


def _same_host(url: str, other: str) -> bool:
    return urllib.parse.urlsplit(url).netloc == urllib.parse.urlsplit(other).netloc


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """Hand redirects back as HTTPError: the hub's answer to a HEAD is in the redirect."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: D102
        return None


def _http_failure(
    exc: urllib.error.HTTPError, url: str, entry: CatalogueEntry, name: str
) -> StudioError:
    # The hub answers an unknown repo with 401 when no token is sent, so the code says more.
    code = exc.headers.get("X-Error-Code", "")
    host = urllib.parse.urlsplit(url).netloc
    if code == "EntryNotFound":
        return StudioError(
            f"{entry.reference}: the repo has no {name} (ViT Studio downloads "
            f"{' + '.join(entry.files)}); choose a repo that has them"
        )
    if code == "RepositoryNotFound":
        return StudioError(
            f"{entry.reference}: no such model on {host} (or a private one: set HF_TOKEN to a "
            "token that may read it); check the name"
        )
    if exc.code in (401, 403):
        return StudioError(
            f"{entry.reference}: {host} refused {name} (HTTP {exc.code}, a gated or private "
            "model); accept its terms on its model page and set HF_TOKEN to a token of yours"
        )
    if exc.code == 404:
        return StudioError(f"{url}: no such file on the server; check the name ({entry.reference})")
    return StudioError(
        f"{url}: the server answered HTTP {exc.code} ({exc.reason}); try again later"
    )


def _unreachable(url: str, exc: BaseException, entry: CatalogueEntry) -> StudioError:
    host = urllib.parse.urlsplit(url).netloc
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(reason, socket.gaierror):
        reason = "no network, or an unknown host"
    elif isinstance(reason, OSError) and reason.strerror:
        reason = reason.strerror
    variable = TORCHVISION_URL_VARIABLE if entry.source == TORCHVISION else HUB_ENDPOINT_VARIABLE
    return StudioError(
        f"cannot reach {host} ({reason}); check the internet connection, or set {variable} to "
        "download from elsewhere"
    )


def _connection_lost(
    remote: _RemoteFile, entry: CatalogueEntry, done: int, expected: int | None
) -> StudioError:
    of = f" of {_mib(expected)}" if expected else ""
    return StudioError(
        f"{remote.name} of {entry.name}: the connection was lost after {_mib(done)}{of}; "
        f"the part is kept in {remote.partial}, download again to resume"
    )


def _disk_error(exc: OSError, doing: str, path: Path) -> StudioError:
    known = user_error(exc, f"{doing} {path.name}", path=path, writing=True)
    return known if known is not None else StudioError(f"{path}: {exc}")


def _mib(size: int) -> str:
    return f"{size / (1 << 20):,.1f} MiB"
