"""PyTorch twins of Topiary's model zoo, for the equivalence test.

The architectures and member names follow the reference definitions the TypeScript models
mirror: HYDRA's ``models/basic.py`` (``mnist_model``: SmallCNN), ``vgg_cifar.py``,
``resnet_cifar.py`` and ``wrn_cifar.py``; Ye et al.'s width-scaled Madry CNN; LeNet-5,
Caffe's LeNet and the 784-300-100-10 MLP.

Usage: python3 torch_models.py JOB.json  (prints one JSON object with the results), or
       python3 torch_models.py -         (imports torch first, then reads the job as one
                                          JSON line on stdin: the caller overlaps the import
                                          with its own work)

A job lists models; for each, the test wrote (safetensors, read here without the
safetensors package):
  <name>.state0  the model's state before the run
  <name>.io      x, r, y_train, gx (input gradient of sum(y_train * r)), y_eval
  <name>.state1  the buffers after the train-mode forward (running statistics, counters)
The twin loads state0 with strict names, runs the same passes, and reports the largest
differences. The job's "names" entries check state-dict names, shapes and order only.
"""

import json
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

# ---------------------------------------------------------------------------- safetensors

DTYPES = {"F32": torch.float32, "I64": torch.int64, "I32": torch.int32, "U8": torch.uint8}


def read_safetensors(path):
    """Tensors of a safetensors file, by name (8-byte length, JSON header, raw data).

    The tensors are views on one buffer read from the file (load_state_dict copies them).
    """
    with open(path, "rb") as f:
        buf = bytearray(os.fstat(f.fileno()).st_size)
        f.readinto(buf)
    n = int.from_bytes(buf[:8], "little")
    header = json.loads(buf[8 : 8 + n].decode("utf-8"))
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        dtype = DTYPES[info["dtype"]]
        size = torch.empty(0, dtype=dtype).element_size()
        count = (end - begin) // size
        if count:
            flat = torch.frombuffer(buf, dtype=dtype, count=count, offset=base + begin)
        else:
            flat = torch.empty(0, dtype=dtype)
        out[name] = flat.reshape(info["shape"])
    return out


# ---------------------------------------------------------------------------- models


class Flatten(nn.Module):
    def forward(self, x):
        return x.reshape(x.shape[0], -1)


def small_cnn(num_classes=10):
    """HYDRA's mnist_model: an nn.Sequential, so parameters are 0.*, 2.*, 5.*, 7.*."""
    return nn.Sequential(
        nn.Conv2d(1, 16, 4, stride=2, padding=1),
        nn.ReLU(),
        nn.Conv2d(16, 32, 4, stride=2, padding=1),
        nn.ReLU(),
        Flatten(),
        nn.Linear(32 * 7 * 7, 100),
        nn.ReLU(),
        nn.Linear(100, num_classes),
    )


class MLP(nn.Module):
    def __init__(self, num_classes=10, sizes=(784, 300, 100)):
        super().__init__()
        self.n = len(sizes)
        for i in range(self.n):
            out = sizes[i + 1] if i + 1 < self.n else num_classes
            setattr(self, f"fc{i + 1}", nn.Linear(sizes[i], out))

    def forward(self, x):
        x = x.reshape(x.shape[0], -1)
        for i in range(self.n):
            x = getattr(self, f"fc{i + 1}")(x)
            if i + 1 < self.n:
                x = F.relu(x)
        return x


class LeNet5(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(400, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, num_classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = x.reshape(x.shape[0], -1)
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))


class CaffeLeNet(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 20, 5)
        self.conv2 = nn.Conv2d(20, 50, 5)
        self.fc1 = nn.Linear(800, 500)
        self.fc2 = nn.Linear(500, num_classes)

    def forward(self, x):
        x = F.max_pool2d(self.conv2(F.max_pool2d(self.conv1(x), 2)), 2)
        return self.fc2(F.relu(self.fc1(x.reshape(x.shape[0], -1))))


class MadryCNN(nn.Module):
    """Channels 2w, 4w and 64w hidden units (w = 16: Madry et al.'s network)."""

    def __init__(self, num_classes=10, width=16):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 2 * width, 5, padding=2)
        self.conv2 = nn.Conv2d(2 * width, 4 * width, 5, padding=2)
        self.fc1 = nn.Linear(7 * 7 * 4 * width, 64 * width)
        self.fc2 = nn.Linear(64 * width, num_classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc2(F.relu(self.fc1(x.reshape(x.shape[0], -1))))


VGG_CFG = {
    16: [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512],
}


class VGG(nn.Module):
    def __init__(self, num_classes=10, depth=16):
        super().__init__()
        layers, c = [], 3
        for v in VGG_CFG[depth]:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(c, v, 3, padding=1, bias=False), nn.BatchNorm2d(v), nn.ReLU()]
                c = v
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d((2, 2))
        self.classifier = nn.Sequential(
            nn.Linear(c * 4, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, num_classes)
        )

    def forward(self, x):
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


class BasicBlock(nn.Module):
    def __init__(self, cin, planes, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(cin, planes, 1, stride=stride, bias=False), nn.BatchNorm2d(planes)
            )

    def forward(self, x):
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(out + self.shortcut(x))


class ResNet(nn.Module):
    def __init__(self, num_classes=10, blocks=(2, 2, 2, 2)):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        cin = 64
        for i, planes in enumerate([64, 128, 256, 512]):
            layer = []
            for b in range(blocks[i]):
                layer.append(BasicBlock(cin, planes, 2 if (b == 0 and i > 0) else 1))
                cin = planes
            setattr(self, f"layer{i + 1}", nn.Sequential(*layer))
        self.linear = nn.Linear(512, num_classes)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer4(self.layer3(self.layer2(self.layer1(out))))
        out = F.avg_pool2d(out, 4)
        return self.linear(out.reshape(out.shape[0], -1))


class WideBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin)
        self.relu1 = nn.ReLU()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu2 = nn.ReLU()
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.equal = cin == cout
        self.convShortcut = None if self.equal else nn.Conv2d(cin, cout, 1, stride=stride, bias=False)

    def forward(self, x):
        a = self.relu1(self.bn1(x))
        out = self.conv2(self.relu2(self.bn2(self.conv1(a))))
        return (x if self.equal else self.convShortcut(a)) + out


class NetworkBlock(nn.Module):
    def __init__(self, n, cin, cout, stride):
        super().__init__()
        self.layer = nn.Sequential(
            *[WideBlock(cin if i == 0 else cout, cout, stride if i == 0 else 1) for i in range(n)]
        )

    def forward(self, x):
        return self.layer(x)


class WideResNet(nn.Module):
    def __init__(self, num_classes=10, depth=28, widen=10, hydra_sub_block=False):
        super().__init__()
        n = (depth - 4) // 6
        ch = [16, 16 * widen, 32 * widen, 64 * widen]
        self.conv1 = nn.Conv2d(3, ch[0], 3, padding=1, bias=False)
        self.block1 = NetworkBlock(n, ch[0], ch[1], 1)
        if hydra_sub_block:
            self.sub_block1 = NetworkBlock(n, ch[0], ch[1], 1)
        self.block2 = NetworkBlock(n, ch[1], ch[2], 2)
        self.block3 = NetworkBlock(n, ch[2], ch[3], 2)
        self.bn1 = nn.BatchNorm2d(ch[3])
        self.relu = nn.ReLU()
        self.fc = nn.Linear(ch[3], num_classes)

    def forward(self, x):
        out = self.block3(self.block2(self.block1(self.conv1(x))))
        out = F.avg_pool2d(self.relu(self.bn1(out)), 8)
        return self.fc(out.reshape(out.shape[0], -1))


def _no_init(tensor, *args, **kwargs):
    return tensor


def build(spec):
    """The twin of a model; its random initialisation is skipped (weights are loaded)."""
    saved = (nn.init.kaiming_uniform_, nn.init.uniform_)
    nn.init.kaiming_uniform_, nn.init.uniform_ = _no_init, _no_init
    try:
        return _build(spec)
    finally:
        nn.init.kaiming_uniform_, nn.init.uniform_ = saved


def _build(spec):
    kind, a = spec["model"], spec.get("args", {})
    if kind == "mlp":
        return MLP()
    if kind == "lenet5":
        return LeNet5()
    if kind == "caffe_lenet":
        return CaffeLeNet()
    if kind == "small_cnn":
        return small_cnn()
    if kind == "madry_cnn":
        return MadryCNN(width=a.get("width", 16))
    if kind == "vgg16_bn":
        return VGG()
    if kind == "resnet18":
        return ResNet()
    if kind == "wrn":
        return WideResNet(depth=a.get("depth", 28), widen=a.get("widen", 10),
                          hydra_sub_block=a.get("hydraSubBlock", False))
    raise ValueError(f"unknown model {kind}")


# ---------------------------------------------------------------------------- checks


def max_diff(a, b):
    if a.shape != b.shape:
        raise ValueError(f"shape {tuple(a.shape)} != {tuple(b.shape)}")
    return float((a.double() - b.double()).abs().max()) if a.numel() else 0.0


def check_names(spec):
    model = build(spec)
    sd = model.state_dict()
    got = [[k, list(v.shape), str(v.dtype).replace("torch.", "")] for k, v in sd.items()]
    params = sum(p.numel() for p in model.parameters())
    return {"names": got, "params": params}


def check_run(spec, d):
    name = spec["name"]
    model = build(spec)
    state0 = read_safetensors(f"{d}/{name}.state0")
    model.load_state_dict(state0, strict=True)
    io = read_safetensors(f"{d}/{name}.io")
    x = io["x"].clone().requires_grad_(True)
    model.train()
    y_train = model(x)
    (y_train * io["r"]).sum().backward()
    out = {
        "y_train": max_diff(y_train.detach(), io["y_train"]),
        "gx": max_diff(x.grad, io["gx"]),
        "gx_scale": float(io["gx"].abs().max()),
    }
    state1 = read_safetensors(f"{d}/{name}.state1")
    sd = model.state_dict()
    buf = 0.0
    for k, v in state1.items():
        buf = max(buf, max_diff(sd[k], v))
    out["buffers"] = buf
    out["buffer_count"] = len(state1)
    model.eval()
    with torch.no_grad():
        out["y_eval"] = max_diff(model(io["x"]), io["y_eval"])
    out["y_scale"] = float(io["y_eval"].abs().max())
    return out


def main():
    torch.set_num_threads(1)
    if sys.argv[1] == "-":
        job = json.loads(sys.stdin.readline())
    else:
        with open(sys.argv[1]) as f:
            job = json.load(f)
    result = {"torch": torch.__version__, "runs": {}, "names": {}}
    for spec in job.get("names", []):
        try:
            result["names"][spec["name"]] = check_names(spec)
        except Exception as e:  # reported per model, the test names it
            result["names"][spec["name"]] = {"error": f"{type(e).__name__}: {e}"}
    for spec in job.get("runs", []):
        try:
            result["runs"][spec["name"]] = check_run(spec, job["dir"])
        except Exception as e:
            result["runs"][spec["name"]] = {"error": f"{type(e).__name__}: {e}"}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
