"""Renders a kustomization the way `kubectl kustomize` does, for the few features
deploy/kubernetes/ uses, on machines without kubectl (Debian has no kustomize package).

Supported, and nothing else (anything else is an error, so a new feature cannot slip past
unrendered): `resources` (files, and directories holding a kustomization.yaml), `namespace`,
`labels` (pairs, without selectors), `images` (newName/newTag), and `patches` given as a JSON 6902
file (JSON or YAML) with a target of kind and name. deploy_checks.sh compares this output with
`kubectl kustomize` wherever kubectl is installed, so the two cannot drift apart unseen.

Usage: python3 kustomize_lite.py DIR > rendered.yaml   (needs PyYAML)
"""

import copy
import json
import os
import sys

import yaml

KNOWN = {"apiVersion", "kind", "resources", "namespace", "labels", "images", "patches"}
# The kinds deploy/kubernetes/ uses that live outside any namespace.
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "APIService"}


def load_docs(path):
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d]


def pointer(path):
    return [p.replace("~1", "/").replace("~0", "~") for p in path.lstrip("/").split("/")]


def json_patch(doc, ops):
    for op in ops:
        *parents, last = pointer(op["path"])
        node = doc
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
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
                raise SystemExit(f"unsupported patch op {kind}")
        else:
            if kind in ("add", "replace"):
                if kind == "replace" and last not in node:
                    raise SystemExit(f"replace of a missing path {op['path']}")
                node[last] = copy.deepcopy(op["value"])
            elif kind == "remove":
                del node[last]
            else:
                raise SystemExit(f"unsupported patch op {kind}")


def set_image(container, images):
    image = container.get("image", "")
    name, tag = image, None
    if ":" in image.rsplit("/", 1)[-1]:
        name, tag = image.rsplit(":", 1)
    for rule in images:
        if rule["name"] == name:
            name = rule.get("newName", name)
            tag = rule.get("newTag", tag)
            container["image"] = f"{name}:{tag}" if tag else name
            return


def pod_specs(doc):
    spec = doc.get("spec", {})
    if doc["kind"] == "CronJob":
        yield spec["jobTemplate"]["spec"]["template"]["spec"]
    elif "template" in spec:
        yield spec["template"]["spec"]


def render(directory):
    with open(os.path.join(directory, "kustomization.yaml"), encoding="utf-8") as f:
        k = yaml.safe_load(f)
    unknown = set(k) - KNOWN
    if unknown:
        raise SystemExit(f"{directory}: kustomize_lite does not support {sorted(unknown)}")
    docs = []
    for entry in k.get("resources", []):
        path = os.path.join(directory, entry)
        docs.extend(render(path) if os.path.isdir(path) else load_docs(path))
    for patch in k.get("patches", []):
        target = patch["target"]
        if set(target) - {"kind", "name"} or set(patch) - {"target", "path"}:
            raise SystemExit(f"{directory}: only JSON 6902 patches by kind and name")
        with open(os.path.join(directory, patch["path"]), encoding="utf-8") as f:
            ops = yaml.safe_load(f)
        matched = [
            d for d in docs
            if d["kind"] == target["kind"] and d["metadata"]["name"] == target["name"]
        ]
        if not matched:
            raise SystemExit(f"{directory}: patch {patch['path']} matches nothing")
        for d in matched:
            json_patch(d, ops)
    for rule in k.get("labels", []):
        if rule.get("includeSelectors") or rule.get("includeTemplates"):
            raise SystemExit(f"{directory}: labels only on metadata")
        for d in docs:
            d["metadata"].setdefault("labels", {}).update(rule["pairs"])
    namespace = k.get("namespace")
    if namespace:
        for d in docs:
            if d["kind"] == "Namespace":
                d["metadata"]["name"] = namespace
            elif d["kind"] not in CLUSTER_SCOPED:
                d["metadata"]["namespace"] = namespace
            if d["kind"] in ("RoleBinding", "ClusterRoleBinding"):
                for s in d.get("subjects", []):
                    if s.get("kind") == "ServiceAccount":
                        s["namespace"] = namespace
    images = k.get("images", [])
    for d in docs:
        for spec in pod_specs(d):
            for c in spec.get("initContainers", []) + spec.get("containers", []):
                set_image(c, images)
    return docs


if __name__ == "__main__":
    yaml.safe_dump_all(render(sys.argv[1]), sys.stdout, sort_keys=True)
