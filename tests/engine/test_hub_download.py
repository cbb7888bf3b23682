"""Downloads into the standard caches, from a loopback server only: verified before anything
opens them, resumable after a cancel or a lost connection, one line for anything that fails."""

import hashlib

import huggingface_hub
import pytest
import torch

from tests.hub_server import COMMIT, hub_entry, serve_fake_hub, torchvision_entry
from vit_studio.engine.checkpoints import load_model
from vit_studio.engine.checkpoints.discovery import find_local_models
from vit_studio.engine.errors import Cancelled, StudioError
from vit_studio.engine.hub import download, is_downloaded, local_path
from vit_studio.engine.hub.caches import incomplete_path, torchvision_partial
from vit_studio.engine.hub.downloads import CHUNK_BYTES

REPO = "fake/vit-tiny"


@pytest.fixture
def hub(tmp_path, monkeypatch):
    yield from serve_fake_hub(tmp_path, monkeypatch)


@pytest.fixture
def tv(hub):
    """The fake torchvision checkpoint's catalogue entry."""
    ((file, content),) = hub.torchvision_files.items()
    return torchvision_entry(file, content)


def sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def test_torchvision_file_lands_in_the_torch_hub_cache_verified_and_loads(hub, tv, tmp_path):
    seen = []
    path = download(tv, progress=lambda done, total: seen.append((done, total)))
    assert path == tmp_path / "torch" / "hub" / "checkpoints" / tv.files[0]
    assert path.read_bytes() == hub.torchvision_files[tv.files[0]]
    assert seen[-1] == (path.stat().st_size, path.stat().st_size)
    assert not torchvision_partial(tv).exists()
    assert load_model(path).arch.hidden_dim == 192


def test_torch_hub_finds_the_download_without_asking_the_server(hub, tv):
    path = download(tv)
    asked = len(hub.requests)
    state = torch.hub.load_state_dict_from_url(f"{hub.url}/torchvision/{tv.files[0]}",
                                               check_hash=True, weights_only=True)  # fmt: skip
    assert len(hub.requests) == asked
    assert state.keys() == torch.load(path, weights_only=True).keys()


def test_hub_repo_lands_in_the_hf_cache_as_huggingface_hub_lays_it_out(hub, tmp_path):
    snapshot = download(hub_entry(REPO))
    repo = tmp_path / "hf" / "hub" / "models--fake--vit-tiny"
    assert snapshot == repo / "snapshots" / COMMIT
    assert (repo / "refs" / "main").read_text() == COMMIT
    weights = snapshot / "model.safetensors"
    assert weights.is_symlink()
    assert weights.resolve() == repo / "blobs" / sha256(hub.repos[REPO]["model.safetensors"])
    cached = huggingface_hub.try_to_load_from_cache(
        REPO, "config.json", cache_dir=tmp_path / "hf" / "hub"
    )
    assert cached == str(snapshot / "config.json")
    assert load_model(snapshot).arch.num_heads == 3


def test_downloaded_models_are_listed_by_the_cache_scan(hub, tv):
    download(tv)
    download(hub_entry(REPO))
    assert [(m.name, m.source) for m in find_local_models(bundled=[])] == [
        ("vit_fake-" + tv.files[0].split("-")[1].removesuffix(".pth"), "torch hub cache"),
        (REPO, "Hugging Face cache"),
    ]


def test_what_is_downloaded_is_known_without_a_server_and_not_fetched_again(hub, tv):
    entries = [tv, hub_entry(REPO)]
    assert [local_path(entry) for entry in entries] == [None, None]
    paths = [download(entry) for entry in entries]
    hub.stop()
    assert [local_path(entry) for entry in entries] == paths
    assert all(is_downloaded(entry) for entry in entries)
    assert [download(entry) for entry in entries] == paths


def test_corrupt_torchvision_file_is_deleted_and_reported_in_one_line(hub, tv):
    hub.corrupt.add(tv.files[0])
    with pytest.raises(StudioError) as raised:
        download(tv)
    message = str(raised.value)
    assert "does not match its SHA-256" in message and "deleted" in message
    assert "\n" not in message
    assert not torchvision_partial(tv).exists()
    assert local_path(tv) is None


def test_corrupt_hub_file_is_deleted_and_never_linked_into_the_snapshot(hub):
    hub.corrupt.add("model.safetensors")
    with pytest.raises(StudioError, match="model.safetensors of fake/vit-tiny: the download does "
                                          "not match its SHA-256"):  # fmt: skip
        download(hub_entry(REPO))
    etag = sha256(hub.repos[REPO]["model.safetensors"])
    assert not incomplete_path(REPO, etag).exists()
    assert local_path(hub_entry(REPO)) is None


def test_no_server_is_one_line_saying_so(hub, tv):
    hub.stop()
    for entry in (tv, hub_entry(REPO)):
        with pytest.raises(StudioError, match=r"cannot reach 127\.0\.0\.1:\d+ \(.*\); check the "
                                              "internet connection, or set "):  # fmt: skip
            download(entry)


def test_cancel_keeps_the_part_and_the_next_download_resumes_it_with_a_range(hub, tv):
    reports = []
    with pytest.raises(Cancelled, match="is kept and the next download resumes it"):
        download(tv, lambda done, _: reports.append(done), cancel=lambda: len(reports) >= 3)
    part = torchvision_partial(tv)
    assert part.stat().st_size == reports[-1] == 3 * CHUNK_BYTES
    path = download(tv)
    assert hub.ranges() == [f"bytes={3 * CHUNK_BYTES}-"]
    assert path.read_bytes() == hub.torchvision_files[tv.files[0]]
    assert not part.exists()


def test_lost_connection_keeps_the_part_for_the_next_download_to_resume(hub, tv):
    hub.cut_after[tv.files[0]] = 100_000
    lost = "the connection was lost after 0.1 MiB of .* MiB; the part is kept in .*, download again"
    with pytest.raises(StudioError, match=lost):
        download(tv)
    assert torchvision_partial(tv).stat().st_size == 100_000
    del hub.cut_after[tv.files[0]]
    assert load_model(download(tv)).arch.num_layers == 1
    assert hub.ranges() == ["bytes=100000-"]


def test_hub_file_resumes_after_a_cancel_too(hub):
    reports = []
    with pytest.raises(Cancelled):
        download(hub_entry(REPO), progress=lambda d, t: reports.append((d, t)),
                 cancel=lambda: len(reports) >= 4)  # fmt: skip
    snapshot = download(hub_entry(REPO))
    assert len(hub.ranges()) == 1
    assert (snapshot / "model.safetensors").read_bytes() == hub.repos[REPO]["model.safetensors"]
    total = sum(len(content) for content in hub.repos[REPO].values())
    assert {t for _, t in reports} == {total}


def test_a_file_missing_from_a_hub_repo_names_what_is_needed(hub):
    del hub.repos[REPO]["model.safetensors"]
    needed = r"hf:fake/vit-tiny: the repo has no model.safetensors \(ViT Studio downloads config"
    with pytest.raises(StudioError, match=needed):
        download(hub_entry(REPO))


def test_an_unknown_hub_repo_is_one_line(hub):
    with pytest.raises(StudioError, match=r"hf:fake/missing: no such model on 127.0.0.1:\d+ "
                                          r"\(or a private one: set HF_TOKEN"):  # fmt: skip
        download(hub_entry("fake/missing"))


def test_offline_mode_refuses_to_download_and_asks_nothing(hub, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(StudioError, match="HF_HUB_OFFLINE is set"):
        download(hub_entry(REPO))
    assert hub.requests == []


def authorizations(hub, path_part: str) -> set[str | None]:
    return {r.authorization for r in hub.requests if path_part in r.path}


@pytest.mark.parametrize("every_get_redirected", [False, True])
def test_the_token_goes_to_the_hub_and_never_to_its_cdn(hub, monkeypatch, every_get_redirected):
    # As on huggingface.co: the weights come from a CDN on another host, to which the token
    # must not travel, neither with the request for it nor along a redirect to it.
    hub.separate_cdn = True
    hub.every_get_to_cdn = every_get_redirected
    monkeypatch.setenv("HF_TOKEN", "hf_secret")
    download(hub_entry(REPO))
    assert authorizations(hub, "/resolve/") == {"Bearer hf_secret"}
    assert authorizations(hub, "/cdn/") == {None}
    assert {r.host.split(":")[0] for r in hub.requests if "/cdn/" in r.path} == {"localhost"}


def test_the_token_hf_auth_login_stored_is_sent_to_the_hub_too(hub, tmp_path):
    hub.separate_cdn = True
    (tmp_path / "hf" / "token").parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / "hf" / "token").write_text("hf_stored\n")  # $HF_HOME/token
    download(hub_entry(REPO))
    assert authorizations(hub, "/resolve/") == {"Bearer hf_stored"}
    assert authorizations(hub, "/cdn/") == {None}


def test_no_token_means_no_authorization_header_at_all(hub):
    download(hub_entry(REPO))
    assert {r.authorization for r in hub.requests} == {None}
