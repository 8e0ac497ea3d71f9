"""`kustomize build` for the features deploy/k8s uses, in Python.

No kustomize binary installs from PyPI, so the tests render every overlay with this and validate
the result offline (libs/devstack/tests/test_deploy.py); where `kubectl` is on PATH the tests also
check that this gives exactly what `kubectl kustomize` gives. Supported: `resources` (files and
directories), `namespace`, `configMapGenerator` and `secretGenerator` (`literals`, `envs`,
`behavior` create / merge / replace; names get a content-hash suffix and the references in pod
specs and Ingress TLS follow), `images` and `patches` (JSON 6902, inline or from a file, with a
kind/name target). Anything else in a kustomization is refused rather than ignored.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

Resource = dict[str, Any]

SUPPORTED = {
    "apiVersion",
    "kind",
    "namespace",
    "resources",
    "configMapGenerator",
    "secretGenerator",
    "images",
    "patches",
}
CLUSTER_SCOPED = {
    "Namespace",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "PersistentVolume",
    "StorageClass",
    "PriorityClass",
    "IngressClass",
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
}


class KustomizeError(ValueError):
    pass


@dataclass
class _Build:
    resources: list[Resource] = field(default_factory=list)
    generated: dict[int, str] = field(default_factory=dict)  # id(resource) -> name before the hash


def build(directory: Path) -> list[Resource]:
    """The rendered manifests of the kustomization in ``directory``, in resource order."""
    result = _build(Path(directory))
    renames: dict[tuple[str, str | None, str], str] = {}
    for res in result.resources:
        if id(res) in result.generated:
            name = result.generated[id(res)]
            hashed = f"{name}-{content_hash(res)}"
            res["metadata"]["name"] = hashed
            renames[(res["kind"], res["metadata"].get("namespace"), name)] = hashed
    for res in result.resources:
        if id(res) not in result.generated:
            _rename_references(res, renames)
    return result.resources


def _build(directory: Path) -> _Build:
    path = directory / "kustomization.yaml"
    if not path.is_file():
        raise KustomizeError(f"no kustomization.yaml in {directory}")
    k = yaml.safe_load(path.read_text()) or {}
    if unknown := set(k) - SUPPORTED:
        raise KustomizeError(f"{path}: not supported by this renderer: {sorted(unknown)}")
    out = _Build()
    for entry in k.get("resources", []):
        target = (directory / entry).resolve()
        if target.is_dir():
            sub = _build(target)
            out.resources.extend(sub.resources)
            out.generated.update(sub.generated)
        elif target.is_file():
            out.resources.extend(d for d in yaml.safe_load_all(target.read_text()) if d)
        else:
            raise KustomizeError(f"{path}: resource {entry} does not exist")
    for kind, key in (("ConfigMap", "configMapGenerator"), ("Secret", "secretGenerator")):
        for gen in k.get(key, []):
            _generate(out, directory, kind, gen)
    if namespace := k.get("namespace"):
        for res in out.resources:
            if res.get("kind") not in CLUSTER_SCOPED:
                res.setdefault("metadata", {})["namespace"] = namespace
    for patch in k.get("patches", []):
        _patch(out.resources, directory, patch)
    for image in k.get("images", []):
        for res in out.resources:
            _set_image(res, image)
    return out


def _generate(out: _Build, directory: Path, kind: str, gen: dict[str, Any]) -> None:
    if unknown := set(gen) - {"name", "literals", "envs", "behavior", "type"}:
        raise KustomizeError(f"{kind} generator {gen.get('name')}: not supported: {sorted(unknown)}")
    data: dict[str, str] = {}
    for env in gen.get("envs", []):
        env_path = directory / env
        if not env_path.is_file():
            raise KustomizeError(f"{kind} generator {gen['name']}: env file {env_path} does not exist")
        data.update(_env_pairs(env_path.read_text()))
    for literal in gen.get("literals", []):
        key, value = _split(literal)
        data[key] = value
    behavior = gen.get("behavior", "create")
    if behavior == "create":
        res: Resource = {"apiVersion": "v1", "kind": kind, "metadata": {"name": gen["name"]}}
        if kind == "Secret":
            res["type"] = gen.get("type", "Opaque")
        res["data"] = _encode(kind, data)
        out.resources.append(res)
        out.generated[id(res)] = gen["name"]
        return
    existing = [r for r in out.resources if out.generated.get(id(r)) == gen["name"] and r["kind"] == kind]
    if len(existing) != 1:
        raise KustomizeError(f"{kind} generator {gen['name']}: behavior {behavior} needs one generated base")
    (res,) = existing
    if behavior == "merge":
        res["data"] = {**res.get("data", {}), **_encode(kind, data)}
    elif behavior == "replace":
        res["data"] = _encode(kind, data)
    else:
        raise KustomizeError(f"{kind} generator {gen['name']}: unknown behavior {behavior}")


def _encode(kind: str, data: dict[str, str]) -> dict[str, str]:
    if kind == "Secret":
        return {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
    return dict(data)


def _split(pair: str) -> tuple[str, str]:
    key, sep, value = pair.partition("=")
    if not sep or not key:
        raise KustomizeError(f"not KEY=VALUE: {pair!r}")
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        value = value[1:-1]
    return key, value


def _env_pairs(text: str) -> dict[str, str]:
    pairs = {}
    for raw in text.splitlines():
        line = raw.lstrip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key:
            raise KustomizeError(f"not KEY=VALUE in an env file: {raw!r}")
        pairs[key] = value
    return pairs


def content_hash(res: Resource) -> str:
    """A generated name's suffix: 10 characters of a SHA-256 over the kind, name and data (and a
    Secret's type), so that a change of content is a new name and rolls the pods that use it. The
    values differ from kubectl's (its tests compare everything but them)."""
    fields: dict[str, Any] = {
        "kind": res["kind"],
        "name": res["metadata"]["name"],
        "data": res.get("data", {}),
    }
    if res["kind"] == "Secret":
        fields["type"] = res.get("type", "Opaque")
    encoded = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    for char, escape in (("&", "\\u0026"), ("<", "\\u003c"), (">", "\\u003e")):
        encoded = encoded.replace(char, escape)
    digest = hashlib.sha256(encoded.encode()).hexdigest()[:10]
    return digest.translate(str.maketrans("013ae", "ghkmt"))


def _pod_spec(res: Resource) -> dict[str, Any] | None:
    spec = res.get("spec") or {}
    kind = res.get("kind")
    if kind == "Pod":
        return spec
    if kind == "CronJob":
        return spec.get("jobTemplate", {}).get("spec", {}).get("template", {}).get("spec")
    if kind in {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}:
        return spec.get("template", {}).get("spec")
    return None


def _rename_references(res: Resource, renames: dict[tuple[str, str | None, str], str]) -> None:
    namespace = res.get("metadata", {}).get("namespace")

    def fix(holder: dict[str, Any] | None, key: str, kind: str) -> None:
        if holder and (new := renames.get((kind, namespace, holder.get(key, "")))):
            holder[key] = new

    if (pod := _pod_spec(res)) is not None:
        for container in [*pod.get("containers", []), *pod.get("initContainers", [])]:
            for source in container.get("envFrom", []):
                fix(source.get("configMapRef"), "name", "ConfigMap")
                fix(source.get("secretRef"), "name", "Secret")
            for env in container.get("env", []):
                value_from = env.get("valueFrom") or {}
                fix(value_from.get("configMapKeyRef"), "name", "ConfigMap")
                fix(value_from.get("secretKeyRef"), "name", "Secret")
        for volume in pod.get("volumes", []):
            fix(volume.get("configMap"), "name", "ConfigMap")
            fix(volume.get("secret"), "secretName", "Secret")
            for source in (volume.get("projected") or {}).get("sources", []):
                fix(source.get("configMap"), "name", "ConfigMap")
                fix(source.get("secret"), "name", "Secret")
        for pull in pod.get("imagePullSecrets", []):
            fix(pull, "name", "Secret")
    if res.get("kind") == "Ingress":
        for tls in (res.get("spec") or {}).get("tls", []):
            fix(tls, "secretName", "Secret")


def _patch(resources: list[Resource], directory: Path, patch: dict[str, Any]) -> None:
    if unknown := set(patch) - {"target", "patch", "path"}:
        raise KustomizeError(f"patch: not supported: {sorted(unknown)}")
    target = patch.get("target") or {}
    if unknown := set(target) - {"kind", "name", "namespace"}:
        raise KustomizeError(f"patch target: not supported: {sorted(unknown)}")
    text = patch["patch"] if "patch" in patch else (directory / patch["path"]).read_text()
    operations = yaml.safe_load(text)
    if not isinstance(operations, list):
        raise KustomizeError("only JSON 6902 patches (a list of operations) are supported")
    matched = [
        r
        for r in resources
        if all(
            (r.get("kind") if key == "kind" else r.get("metadata", {}).get(key)) == value
            for key, value in target.items()
        )
    ]
    if not matched:
        raise KustomizeError(f"patch target {target} matches no resource")
    for res in matched:
        for op in operations:
            _apply_operation(res, op)


def _apply_operation(doc: Resource, op: dict[str, Any]) -> None:
    *parents, last = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]]
    node: Any = doc
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    kind = op["op"]
    if isinstance(node, list):
        index = len(node) if last == "-" else int(last)
        if kind == "add":
            node.insert(index, copy.deepcopy(op["value"]))
        elif kind == "replace":
            node[index] = copy.deepcopy(op["value"])
        elif kind == "remove":
            del node[index]
        else:
            raise KustomizeError(f"unsupported patch op {kind}")
        return
    if kind in ("add", "replace"):
        if kind == "replace" and last not in node:
            raise KustomizeError(f"replace: {op['path']} does not exist")
        node[last] = copy.deepcopy(op["value"])
    elif kind == "remove":
        del node[last]
    else:
        raise KustomizeError(f"unsupported patch op {kind}")


def _set_image(res: Resource, image: dict[str, Any]) -> None:
    pod = _pod_spec(res)
    if pod is None:
        return
    for container in [*pod.get("containers", []), *pod.get("initContainers", [])]:
        current = container.get("image", "")
        name, tag = _split_image(current)
        if name != image["name"]:
            continue
        new_name = image.get("newName", name)
        if "digest" in image:
            container["image"] = f"{new_name}@{image['digest']}"
        elif "newTag" in image:
            container["image"] = f"{new_name}:{image['newTag']}"
        else:
            container["image"] = new_name + tag


def _split_image(image: str) -> tuple[str, str]:
    """("registry/name", ":tag" or "@digest" or "")."""
    if "@" in image:
        name, digest = image.split("@", 1)
        return name, "@" + digest
    slash = image.rfind("/")
    colon = image.rfind(":")
    if colon > slash:
        return image[:colon], image[colon:]
    return image, ""
