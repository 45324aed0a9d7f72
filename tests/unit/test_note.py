"""Signed notes (c2sp.org/signed-note) and checkpoints (c2sp.org/tlog-checkpoint).

The PeterNeumann / EnochRoot vectors come from golang.org/x/mod/sumdb/note's tests.
"""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from app.ledger.note import (
    Checkpoint,
    NoteError,
    Signer,
    Verifier,
    open_checkpoint,
    open_note,
    parse_checkpoint,
    sign_checkpoint,
)

PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
PETER_SIG = (
    "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXg"
    "KvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)
ENOCH_SIG = (
    "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01o"
    "OTGwnWLox33WWd1RvMc+QQ=\n"
)
ROOT = hashlib.sha256(b"root").digest()


def spec_key_id(name: str, public_key: bytes) -> int:
    """Key ID exactly as c2sp.org/signed-note defines it for Ed25519."""
    return int.from_bytes(
        hashlib.sha256(name.encode() + b"\x0a" + b"\x01" + public_key).digest()[:4], "big"
    )


@pytest.fixture(scope="module")
def signer() -> Signer:
    return Signer.generate("example.org/ledger")


@pytest.fixture(scope="module")
def checkpoint() -> Checkpoint:
    return Checkpoint(origin="example.org/ledger", size=42, root=ROOT)


# --- keys ------------------------------------------------------------------------


def test_a_generated_key_signs_a_note_its_verifier_opens(signer: Signer) -> None:
    note = signer.sign("hello\nworld\n")
    assert note.startswith("hello\nworld\n\n— example.org/ledger ")
    text, verified = open_note(note, [signer.verifier()])
    assert text == "hello\nworld\n"
    assert verified == [signer.verifier()]


def test_the_key_id_is_the_first_four_bytes_of_the_spec_hash(signer: Signer) -> None:
    verifier = signer.verifier()
    seed = signer.private_key
    public_key = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes_raw()
    assert verifier.public_key == public_key
    assert signer.key_id == verifier.key_id == spec_key_id(signer.name, public_key)


def test_the_verifier_string_is_name_hex_id_and_base64_of_algorithm_and_key(
    signer: Signer,
) -> None:
    verifier = signer.verifier()
    name, key_id, key64 = verifier.to_string().split("+", 2)
    assert name == signer.name
    assert key_id == f"{spec_key_id(signer.name, verifier.public_key):08x}"
    assert base64.b64decode(key64) == b"\x01" + verifier.public_key
    assert Verifier.from_string(verifier.to_string()) == verifier


def test_the_signer_string_round_trips_in_the_go_format(signer: Signer) -> None:
    encoded = signer.to_string()
    assert encoded.startswith(f"PRIVATE+KEY+{signer.name}+{signer.key_id:08x}+")
    assert base64.b64decode(encoded.split("+", 4)[4]) == b"\x01" + signer.private_key
    assert Signer.from_string(encoded) == signer
    assert signer.private_key.hex() not in repr(signer)


def test_go_verifier_key_parses_with_the_expected_id() -> None:
    verifier = Verifier.from_string(PETER_VKEY)
    assert verifier.name == "PeterNeumann"
    assert verifier.key_id == 0xC74F20A3 == spec_key_id("PeterNeumann", verifier.public_key)
    assert verifier.to_string() == PETER_VKEY


def test_go_signer_key_derives_the_go_verifier_key() -> None:
    signer = Signer.from_string(PETER_SKEY)
    assert signer.to_string() == PETER_SKEY
    assert signer.verifier() == Verifier.from_string(PETER_VKEY)


@pytest.mark.parametrize("key", [PETER_VKEY, PETER_SKEY])
def test_every_substring_and_single_character_change_of_a_key_is_refused(key: str) -> None:
    parse = Signer.from_string if key.startswith("PRIVATE") else Verifier.from_string
    for i in range(len(key)):
        for j in range(i + 1, len(key) + 1):
            if (i, j) != (0, len(key)):
                with pytest.raises(NoteError):
                    parse(key[i:j])
        with pytest.raises(NoteError):
            parse(key[:i] + chr(ord(key[i]) + 1) + key[i + 1 :])


@pytest.mark.parametrize(
    "key",
    [
        # Go's vectors: wrong key length and unknown algorithm, each with a matching id.
        "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",
        "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10T",
        "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "",
    ],
)
def test_malformed_verifier_keys_are_refused(key: str) -> None:
    with pytest.raises(NoteError):
        Verifier.from_string(key)


@pytest.mark.parametrize("name", ["", "has space", "a+b", "tab\there", "nb\u00a0sp", "ctl\x01"])
def test_key_names_must_be_non_empty_without_spaces_or_plus(name: str) -> None:
    with pytest.raises(NoteError):
        Signer.generate(name)


def test_a_key_id_that_does_not_match_the_key_is_refused(signer: Signer) -> None:
    verifier = signer.verifier()
    with pytest.raises(NoteError):
        Verifier(name=verifier.name, key_id=verifier.key_id ^ 1, public_key=verifier.public_key)
    with pytest.raises(NoteError):
        Verifier(name="other.org/ledger", key_id=verifier.key_id, public_key=verifier.public_key)


# --- Go's note vectors -----------------------------------------------------------


def test_go_signed_note_opens_with_the_go_verifier() -> None:
    peter = Verifier.from_string(PETER_VKEY)
    text, verified = open_note(TEXT + "\n" + PETER_SIG, [peter])
    assert text == TEXT
    assert verified == [peter]


def test_signing_go_text_with_go_key_reproduces_the_go_note() -> None:
    assert Signer.from_string(PETER_SKEY).sign(TEXT) == TEXT + "\n" + PETER_SIG


def test_go_note_with_two_signatures_opens_with_either_or_both_verifiers() -> None:
    peter, enoch = Verifier.from_string(PETER_VKEY), Verifier.from_string(ENOCH_VKEY)
    note = TEXT + "\n" + PETER_SIG + ENOCH_SIG
    assert open_note(note, [peter])[1] == [peter]
    assert open_note(note, [enoch])[1] == [enoch]
    assert open_note(note, [enoch, peter])[1] == [peter, enoch]


def test_go_note_accepts_bytes_and_repeated_signatures() -> None:
    peter = Verifier.from_string(PETER_VKEY)
    note = (TEXT + "\n" + PETER_SIG + PETER_SIG + ENOCH_SIG).encode()
    assert open_note(note, [peter]) == (TEXT, [peter])


def test_a_note_without_any_known_signature_is_refused_as_unknown_key() -> None:
    with pytest.raises(NoteError, match="已知密钥") as refused:
        open_note(TEXT + "\n" + PETER_SIG + ENOCH_SIG, [])
    assert "PeterNeumann+c74f20a3" in str(refused.value)
    assert "EnochRoot+af0cfe78" in str(refused.value)


def test_a_corrupted_signature_from_a_known_key_is_refused_as_invalid() -> None:
    peter = Verifier.from_string(PETER_VKEY)
    corrupted = PETER_SIG[:60] + "ABCD" + PETER_SIG[60:]
    with pytest.raises(NoteError, match="签名无效"):
        open_note(TEXT + "\n" + corrupted, [peter])


def test_a_bad_signature_from_a_known_key_spoils_the_note_even_beside_a_good_one() -> None:
    peter = Verifier.from_string(PETER_VKEY)
    enoch = Verifier.from_string(ENOCH_VKEY)
    corrupted = ENOCH_SIG[:60] + "ABCD" + ENOCH_SIG[60:]
    note = TEXT + "\n" + PETER_SIG + corrupted
    assert open_note(note, [peter])[1] == [peter]
    with pytest.raises(NoteError, match="签名无效"):
        open_note(note, [peter, enoch])


def test_more_than_a_hundred_signatures_is_malformed() -> None:
    peter = Verifier.from_string(PETER_VKEY)
    assert open_note(TEXT + "\n" + PETER_SIG * 100, [peter])[1] == [peter]
    with pytest.raises(NoteError, match="签名过多"):
        open_note(TEXT + "\n" + PETER_SIG * 101, [peter])


@pytest.mark.parametrize(
    "note",
    [
        TEXT,
        TEXT + "\n",
        TEXT + "\n" + PETER_SIG[:-1],
        "\x01" + TEXT + "\n" + PETER_SIG,
        TEXT + "\n— Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXg"
        "KvqfqdngotpRZb6KE6RyyBwJnAM=\n",
        TEXT + "\n" + PETER_SIG + "Unexpected line.\n",
        TEXT + "\n" + PETER_SIG.replace("— ", "- "),
        TEXT + "\n" + PETER_SIG.replace("— ", "—"),
        TEXT + "\n" + PETER_SIG.replace("=\n", "\n"),
        TEXT + "\n" + PETER_SIG.replace("x08go", "x08g!"),
        TEXT + "\n— PeterNeumann AAAA\n",
        TEXT + "\n— PeterNeumann \n",
        TEXT.replace("\n", "\r\n") + "\r\n" + PETER_SIG.replace("\n", "\r\n"),
        TEXT + "\n" + PETER_SIG.replace("\n", "\r\n"),
        "\ud800" + TEXT + "\n" + PETER_SIG,
    ],
)
def test_malformed_notes_are_refused(note: str) -> None:
    with pytest.raises(NoteError):
        open_note(note, [Verifier.from_string(PETER_VKEY)])


def test_non_utf8_bytes_are_refused() -> None:
    with pytest.raises(NoteError, match="UTF-8"):
        open_note(b"\xff" + (TEXT + "\n" + PETER_SIG).encode(), [Verifier.from_string(PETER_VKEY)])


# --- tampering -------------------------------------------------------------------


def test_tampered_text_is_refused(signer: Signer) -> None:
    note = signer.sign("pay 10\n").replace("pay 10", "pay 99")
    with pytest.raises(NoteError, match="签名无效"):
        open_note(note, [signer.verifier()])


def test_a_tampered_signature_is_refused(signer: Signer) -> None:
    note = signer.sign("pay 10\n")
    head, sig_line = note.rsplit("\n\n", 1)
    name, encoded = sig_line.rstrip("\n").rsplit(" ", 1)
    raw = bytearray(base64.b64decode(encoded))
    raw[-1] ^= 0x01
    tampered = f"{head}\n\n{name} {base64.b64encode(bytes(raw)).decode()}\n"
    with pytest.raises(NoteError, match="签名无效"):
        open_note(tampered, [signer.verifier()])


def test_a_note_signed_by_another_key_is_refused(signer: Signer) -> None:
    other = Signer.generate(signer.name)
    with pytest.raises(NoteError, match="已知密钥"):
        open_note(other.sign("pay 10\n"), [signer.verifier()])


def test_a_signature_line_under_a_different_name_is_refused(signer: Signer) -> None:
    note = signer.sign("pay 10\n").replace(f"— {signer.name} ", "— someone.else/ledger ")
    with pytest.raises(NoteError, match="已知密钥"):
        open_note(note, [signer.verifier()])


def test_unknown_key_signature_lines_beside_a_good_one_are_ignored(signer: Signer) -> None:
    stranger = Signer.generate("stranger.example/log")
    namesake = Signer.generate(signer.name)
    note = signer.sign("pay 10\n")
    text, sig_line = note.split("\n\n", 1)
    extra = stranger.signature_line("pay 10\n") + namesake.signature_line("other text\n")
    opened = open_note(f"{text}\n\n{extra}{sig_line}", [signer.verifier()])
    assert opened == ("pay 10\n", [signer.verifier()])


def test_the_last_blank_line_separates_text_from_signatures(signer: Signer) -> None:
    text = "first paragraph\n\nsecond paragraph\n"
    assert open_note(signer.sign(text), [signer.verifier()])[0] == text


@pytest.mark.parametrize("text", ["no final newline", "", "crlf\r\n", "nul\x00\n"])
def test_signing_refuses_text_that_could_not_be_opened(signer: Signer, text: str) -> None:
    with pytest.raises(NoteError):
        signer.sign(text)


def test_two_different_verifiers_under_one_name_and_id_are_ambiguous(signer: Signer) -> None:
    real = signer.verifier()
    forged = object.__new__(Verifier)
    object.__setattr__(forged, "name", real.name)
    object.__setattr__(forged, "key_id", real.key_id)
    object.__setattr__(forged, "public_key", bytes(32))
    with pytest.raises(NoteError, match="歧义"):
        open_note(signer.sign("x\n"), [real, forged])


# --- checkpoints -----------------------------------------------------------------


def test_a_checkpoint_body_is_origin_size_and_base64_root(checkpoint: Checkpoint) -> None:
    root64 = base64.b64encode(ROOT).decode()
    assert checkpoint.body() == f"example.org/ledger\n42\n{root64}\n"
    with_extensions = Checkpoint("example.org/ledger", 0, ROOT, ("ext one", "ext two"))
    assert with_extensions.body() == f"example.org/ledger\n0\n{root64}\next one\next two\n"
    assert parse_checkpoint(with_extensions.body()) == with_extensions


def test_a_signed_checkpoint_opens_to_the_same_checkpoint(
    signer: Signer, checkpoint: Checkpoint
) -> None:
    note = sign_checkpoint(signer, checkpoint)
    assert note.startswith(checkpoint.body() + "\n— example.org/ledger ")
    assert open_checkpoint(note, [signer.verifier()]) == checkpoint
    assert open_checkpoint(note, [signer.verifier()], origin="example.org/ledger") == checkpoint


def test_a_checkpoint_from_another_origin_is_refused(
    signer: Signer, checkpoint: Checkpoint
) -> None:
    note = sign_checkpoint(signer, checkpoint)
    with pytest.raises(NoteError, match="来源不符"):
        open_checkpoint(note, [signer.verifier()], origin="example.org/other")


def test_a_checkpoint_with_a_tampered_size_is_refused(
    signer: Signer, checkpoint: Checkpoint
) -> None:
    note = sign_checkpoint(signer, checkpoint).replace("\n42\n", "\n43\n")
    with pytest.raises(NoteError, match="签名无效"):
        open_checkpoint(note, [signer.verifier()])


def test_a_signed_note_that_is_not_a_checkpoint_is_refused(signer: Signer) -> None:
    with pytest.raises(NoteError, match="3 行"):
        open_checkpoint(signer.sign("just text\n"), [signer.verifier()])


@pytest.mark.parametrize("size", ["01", "-1", "1.0", "+1", " 1", "1 ", "", "１", "0x1", "1e3"])
def test_non_canonical_tree_sizes_are_refused(size: str) -> None:
    root64 = base64.b64encode(ROOT).decode()
    with pytest.raises(NoteError):
        parse_checkpoint(f"example.org/ledger\n{size}\n{root64}\n")


def test_tree_sizes_beyond_uint64_are_refused() -> None:
    root64 = base64.b64encode(ROOT).decode()
    assert parse_checkpoint(f"o\n{2**64 - 1}\n{root64}\n").size == 2**64 - 1
    with pytest.raises(NoteError):
        parse_checkpoint(f"o\n{2**64}\n{root64}\n")


@pytest.mark.parametrize(
    "root64",
    [
        base64.b64encode(ROOT[:31]).decode(),
        base64.b64encode(ROOT + b"\x00").decode(),
        base64.b64encode(ROOT).decode().rstrip("="),
        base64.urlsafe_b64encode(b"\xff" * 32).decode(),
        "not base64!",
        "",
    ],
)
def test_roots_that_are_not_base64_of_32_bytes_are_refused(root64: str) -> None:
    with pytest.raises(NoteError):
        parse_checkpoint(f"example.org/ledger\n1\n{root64}\n")


@pytest.mark.parametrize(
    "body",
    [
        "",
        "example.org/ledger\n1\n",
        "example.org/ledger\n1\n" + base64.b64encode(ROOT).decode(),
        "\n1\n" + base64.b64encode(ROOT).decode() + "\n",
        "example.org/ledger\n1\n" + base64.b64encode(ROOT).decode() + "\n\n",
    ],
)
def test_malformed_checkpoint_bodies_are_refused(body: str) -> None:
    with pytest.raises(NoteError):
        parse_checkpoint(body)


@pytest.mark.parametrize(
    ("origin", "size", "root", "extensions"),
    [
        ("", 1, ROOT, ()),
        ("two\nlines", 1, ROOT, ()),
        ("o", -1, ROOT, ()),
        ("o", 1, ROOT[:31], ()),
        ("o", 1, ROOT, ("",)),
    ],
)
def test_invalid_checkpoints_cannot_be_built(
    origin: str, size: int, root: bytes, extensions: tuple[str, ...]
) -> None:
    with pytest.raises(NoteError):
        Checkpoint(origin=origin, size=size, root=root, extensions=extensions)
