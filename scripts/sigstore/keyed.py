#!/usr/bin/env python3
"""A keyed cosign signature made with Python's `cryptography`, independently of the agent: an
ECDSA P-256 key pair, and cosign's simple-signing payload for an image digest, signed with
SHA-256 (https://github.com/sigstore/cosign/blob/main/specs/SIGNATURE_SPEC.md).

  keyed.py --digest sha256:… --image 127.0.0.1:5000/hash-service --key-out cosign.pub
           [--push] [--out signature.json] [--payload-digest sha256:…]

--push uploads the payload as the layer of the `sha256-<hex>.sig` image (its signature in the
`dev.cosignproject.cosign/signature` annotation) to the registry over plain HTTP, as cosign does;
--out writes {"payload": base64, "signature": base64} instead. --payload-digest names another
digest in the payload (a signature over another digest). A new key pair is made each run unless
--key-in names a PEM private key; one that does not exist yet is made and saved there.
"""
import argparse
import base64
import hashlib
import json
import os
import sys
import urllib.request

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

SIMPLE = "application/vnd.dev.cosign.simplesigning.v1+json"


def payload(image, digest):
    body = {
        "critical": {
            "identity": {"docker-reference": image},
            "image": {"docker-manifest-digest": digest},
            "type": "cosign container image signature",
        },
        "optional": None,
    }
    return json.dumps(body, separators=(",", ":")).encode()


def put_blob(registry, repo, data):
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    req = urllib.request.Request(f"http://{registry}/v2/{repo}/blobs/uploads/", method="POST")
    with urllib.request.urlopen(req, timeout=10) as r:
        location = r.headers["Location"]
    if location.startswith("/"):
        location = f"http://{registry}{location}"
    sep = "&" if "?" in location else "?"
    req = urllib.request.Request(f"{location}{sep}digest={digest}", data=data, method="PUT",
                                 headers={"Content-Type": "application/octet-stream"})
    urllib.request.urlopen(req, timeout=10).close()
    return digest


def push(image, digest, body, signature):
    registry, repo = image.split("/", 1)
    config = json.dumps({"architecture": "", "os": "", "rootfs": {"type": "layers", "diff_ids": [
        "sha256:" + hashlib.sha256(body).hexdigest()]}, "config": {}}).encode()
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": put_blob(registry, repo, config), "size": len(config)},
        "layers": [{"mediaType": SIMPLE, "digest": put_blob(registry, repo, body), "size": len(body),
                    "annotations": {"dev.cosignproject.cosign/signature": signature}}],
    }
    tag = digest.replace(":", "-") + ".sig"
    req = urllib.request.Request(f"http://{registry}/v2/{repo}/manifests/{tag}",
                                 data=json.dumps(manifest).encode(), method="PUT",
                                 headers={"Content-Type": manifest["mediaType"]})
    urllib.request.urlopen(req, timeout=10).close()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--digest", required=True)
    p.add_argument("--image", required=True)
    p.add_argument("--key-out", required=True)
    p.add_argument("--key-in")
    p.add_argument("--payload-digest")
    p.add_argument("--push", action="store_true")
    p.add_argument("--out")
    a = p.parse_args()
    if a.key_in and os.path.exists(a.key_in):
        with open(a.key_in, "rb") as f:
            key = serialization.load_pem_private_key(f.read(), password=None)
    else:
        key = ec.generate_private_key(ec.SECP256R1())
        if a.key_in:
            with open(a.key_in, "wb") as f:
                f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    with open(a.key_out, "wb") as f:
        f.write(key.public_key().public_bytes(serialization.Encoding.PEM,
                                              serialization.PublicFormat.SubjectPublicKeyInfo))
    body = payload(a.image, a.payload_digest or a.digest)
    signature = base64.b64encode(key.sign(body, ec.ECDSA(hashes.SHA256()))).decode()
    if a.out:
        with open(a.out, "w") as f:
            json.dump({"payload": base64.b64encode(body).decode(), "signature": signature}, f)
    if a.push:
        push(a.image, a.digest, body, signature)
    return 0


if __name__ == "__main__":
    sys.exit(main())
