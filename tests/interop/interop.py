#!/usr/bin/env python3
"""Checkpoints between spurcl and PyTorch (issue #5 item 7), the meson test `interop`.

    python3 tests/interop/interop.py BUILD/tests/export_ckpt

(a) spurcl -> PyTorch: export_ckpt makes each model kind (sc_model_init, one
    SGD step) and writes a checkpoint with sc_checkpoint_save; here it loads
    into the equivalent nn.Module with load_state_dict(strict=True), every
    "optim.*" key left out, and must give spurcl's eval-mode logits; then one
    train-mode forward must give spurcl's train-mode logits and leave the
    module's state_dict equal to spurcl's after the same forward (resnet:
    running statistics and num_batches_tracked).
(b) PyTorch -> spurcl: a state_dict saved with safetensors.torch.save_file
    (no metadata; the architecture given to export_ckpt on its command line,
    and once more with spurcl's "format"/"model" metadata instead) loads with
    sc_checkpoint_load and must give PyTorch's logits in eval and train mode;
    spurcl's re-saved checkpoint must hold the parameters bit for bit and the
    buffers PyTorch has after its own train-mode forward.

Tolerance per tensor: max|spurcl - torch| <= 1e-4 * max|torch| + 1e-6.
Without torch or safetensors this prints a SKIP line and exits 77 (meson's
skip code).

The PyTorch modules: CNN below; ViT and ResNet from
tests/fixtures/make_fixtures.py (the ones the fixture tests hold spurcl to).
"""
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
RTOL, ATOL = 1e-4, 1e-6

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file
except ImportError as e:
    print(f"SKIP interop: {sys.executable} cannot import torch and safetensors ({e}); "
          "install python3-torch and the safetensors package to run it")
    sys.exit(77)

sys.path.insert(0, os.path.join(HERE, "..", "fixtures"))
from make_fixtures import ResNet, ViT  # noqa: E402


class CNN(nn.Module):
    """spurcl's cnn: conv1(3x3,p1)-relu-maxpool2-conv2(3x3,p1)-relu-maxpool2-
    flatten(NCHW)-fc1-relu-fc2."""

    def __init__(self, in_ch, hw, c1, c2, fc, classes):
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, c1, 3, padding=1)
        self.conv2 = nn.Conv2d(c1, c2, 3, padding=1)
        self.fc1 = nn.Linear(c2 * (hw // 4) ** 2, fc)
        self.fc2 = nn.Linear(fc, classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc2(F.relu(self.fc1(x.flatten(1))))


def module_for(cfg):
    """The nn.Module of a spurcl "model" config (the checkpoint metadata)."""
    c, hw, k = cfg["in_channels"], cfg["height"], cfg["num_classes"]
    assert cfg["width"] == hw, "square inputs only"
    if cfg["kind"] == "cnn":
        return CNN(c, hw, cfg["cnn_c1"], cfg["cnn_c2"], cfg["cnn_fc"], k)
    if cfg["kind"] == "vit":
        assert abs(cfg["ln_eps"] - 1e-5) < 1e-9
        return ViT(c, hw, cfg["patch"], cfg["dim"], cfg["depth"], cfg["heads"], cfg["mlp"], k)
    if cfg["kind"] == "resnet":
        return ResNet(c, cfg["resnet_width"], k)
    raise ValueError(cfg["kind"])


# Configurations: non-default widths, both channel counts, 28 and 32 pixels
# (28 px takes resnet through odd sizes 7 -> 4 -> 2).
CASES = [
    ("cnn", ["kind=cnn", "c=3", "hw=32", "classes=10", "cnn=8,16,32"],
     dict(kind="cnn", in_channels=3, height=32, width=32, num_classes=10, cnn_c1=8, cnn_c2=16, cnn_fc=32)),
    ("vit", ["kind=vit", "c=1", "hw=28", "classes=7", "patch=7", "dim=32", "depth=2", "heads=4", "mlp=48"],
     dict(kind="vit", in_channels=1, height=28, width=28, num_classes=7, patch=7, dim=32, depth=2,
          heads=4, mlp=48, ln_eps=1e-5)),
    ("resnet28", ["kind=resnet", "c=1", "hw=28", "classes=10", "width=8"],
     dict(kind="resnet", in_channels=1, height=28, width=28, num_classes=10, resnet_width=8)),
    ("resnet32", ["kind=resnet", "c=3", "hw=32", "classes=10", "width=4"],
     dict(kind="resnet", in_channels=3, height=32, width=32, num_classes=10, resnet_width=4)),
]

worst = [0.0, ""]
failures = []


def close(what, got, ref):
    got, ref = got.detach().double(), ref.detach().double()
    if got.shape != ref.shape:
        failures.append(f"{what}: shape {tuple(got.shape)}, expected {tuple(ref.shape)}")
        return
    d = (got - ref).abs().max().item() if got.numel() else 0.0
    scale = ref.abs().max().item() if ref.numel() else 0.0
    ratio = d / (scale + 1e-30)
    if ratio > worst[0]:
        worst[:] = [ratio, what]
    if not d <= RTOL * scale + ATOL:
        failures.append(f"{what}: max|diff| {d:.3g} > {RTOL:g} * max|ref| ({scale:.3g}) + {ATOL:g}")


def same_state(what, got, ref, exact_params):
    """Every state_dict entry: parameters bit for bit (exact_params) or within
    tolerance, running statistics within tolerance, counters equal."""
    if set(got) != set(ref):
        failures.append(f"{what}: keys differ: only spurcl {sorted(set(got) - set(ref))}, "
                        f"only torch {sorted(set(ref) - set(got))}")
        return
    for n in ref:
        g, r = got[n], ref[n]
        if n.endswith("num_batches_tracked"):
            if g.dtype != torch.int64 or g.dim() != 0 or g.item() != r.item():
                failures.append(f"{what}: {n} is {g.dtype} {tuple(g.shape)} {g.tolist()}, "
                                f"torch int64 [] {r.item()}")
        elif exact_params and "running_" not in n:
            if not torch.equal(g, r.float()):
                failures.append(f"{what}: parameter {n} changed in the round trip")
        else:
            close(f"{what} {n}", g, r)


def run(exe, commands):
    """One export_ckpt process for all commands (joined by "+")."""
    argv = [exe]
    for c in commands:
        argv += (["+"] if len(argv) > 1 else []) + c
    r = subprocess.run(argv, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"FAIL: {' '.join(argv)}: exit {r.returncode}\n{r.stderr}")


def export_command(tmp, name, args):
    return ["export", os.path.join(tmp, "a_" + name), *args]


def check_spurcl_to_torch(tmp, name):
    prefix = os.path.join(tmp, "a_" + name)
    ckpt = prefix + ".ckpt.safetensors"
    with safe_open(ckpt, "pt") as f:
        meta = f.metadata()
    assert meta["format"] == "spurcl-checkpoint-1", meta.get("format")
    cfg = json.loads(meta["model"])
    sd = load_file(ckpt)
    optim_keys = [k for k in sd if k.startswith("optim.")]
    assert optim_keys, "the checkpoint should hold the optimiser state"
    model = module_for(cfg)
    model.load_state_dict({k: v for k, v in sd.items() if not k.startswith("optim.")}, strict=True)
    io = load_file(prefix + ".io.safetensors")
    model.eval()
    with torch.no_grad():
        close(f"(a) {name} eval logits", io["logits.eval"], model(io["input"]))
    model.train()
    with torch.no_grad():
        close(f"(a) {name} train logits", io["logits.train"], model(io["input"]))
    same_state(f"(a) {name} state after a train-mode forward", load_file(prefix + ".after.safetensors"),
               model.state_dict(), exact_params=True)
    nbuf = sum(1 for k in sd if "running_" in k or k.endswith("num_batches_tracked"))
    print(f"(a) spurcl -> torch {name}: {len(sd) - len(optim_keys)} tensors ({nbuf} buffers) "
          f"loaded strictly, {len(optim_keys)} optim.* keys left out")


def make_torch_checkpoint(tmp, name, args, cfg, with_meta):
    """Writes a PyTorch state_dict and an input; returns (the import command,
    a check to run once export_ckpt has run)."""
    torch.manual_seed(100 + len(name))
    model = module_for(cfg).float()
    gen = torch.Generator().manual_seed(200)
    x = torch.rand(6, cfg["in_channels"], cfg["height"], cfg["width"], generator=gen)
    if cfg["kind"] == "resnet":
        # running statistics of real activations, then BN affine parameters away from (1, 0)
        with torch.no_grad():
            model.train()
            for _ in range(3):
                model(torch.rand(x.shape, generator=gen))
            for m in model.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.weight.copy_(0.5 + torch.rand(m.weight.shape, generator=gen))
                    m.bias.copy_(0.2 * torch.randn(m.bias.shape, generator=gen))
    state = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    tag = name + ("_meta" if with_meta else "")
    ckpt = os.path.join(tmp, f"b_{tag}.safetensors")
    if with_meta:
        save_file(state, ckpt, metadata={"format": "spurcl-checkpoint-1", "model": json.dumps(cfg)})
    else:
        save_file(state, ckpt)
    inp = os.path.join(tmp, f"b_{tag}.in.safetensors")
    save_file({"input": x}, inp)
    out = os.path.join(tmp, f"b_{tag}.out")

    def check():
        io = load_file(out + ".io.safetensors")
        model.eval()
        with torch.no_grad():
            close(f"(b) {tag} eval logits", io["logits.eval"], model(x))
        model.train()
        with torch.no_grad():
            close(f"(b) {tag} train logits", io["logits.train"], model(x))
        same_state(f"(b) {tag} spurcl's checkpoint after a train-mode forward",
                   load_file(out + ".ckpt.safetensors"), model.state_dict(), exact_params=True)
        print(f"(b) torch -> spurcl {tag}: {len(state)} tensors "
              f"({'config from the metadata' if with_meta else 'plain state_dict, config on the command line'})")

    return ["import", ckpt, inp, out, *([] if with_meta else args)], check


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    exe = os.path.abspath(sys.argv[1])
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(prefix="spurcl-interop-") as tmp:
        commands = [export_command(tmp, name, args) for name, args, _ in CASES]
        checks = []
        for name, args, cfg in CASES + [CASES[2]]:
            cmd, check = make_torch_checkpoint(tmp, name, args, cfg, with_meta=len(checks) == len(CASES))
            commands.append(cmd)
            checks.append(check)
        run(exe, commands)
        for name, _, _ in CASES:
            check_spurcl_to_torch(tmp, name)
        for check in checks:
            check()
    print(f"largest max|diff|/max|ref|: {worst[0]:.3g} ({worst[1]}; limit {RTOL:g} + atol); "
          f"torch {torch.__version__}")
    if failures:
        print("FAIL:\n  " + "\n  ".join(failures))
        return 1
    print("interop: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
