"""pytorch/examples' mnist_hogwild (main.py + train.py) with `import torch` swapped for graphc.

Changes from the original, all forced by what graphc lacks: an MLP instead of the two Conv2d
layers (no convolutions yet), `pred == target` for `pred.eq(target)`, mnist_sample() instead of torchvision's MNIST, and
--max-batches / --result to keep the test short and report to it. Everything else is the
original's structure: mp.set_start_method('spawn'), model.share_memory(), one mp.Process per
rank running train(rank, args, model, device, dataset, kwargs), join, then test().
"""
from __future__ import print_function

import argparse
import json
import os

import graphc as torch
import graphc.multiprocessing as mp
import graphc.nn as nn
import graphc.nn.functional as F
import graphc.optim as optim

parser = argparse.ArgumentParser(description="PyTorch MNIST Example")
parser.add_argument("--batch-size", type=int, default=64)
parser.add_argument("--test-batch-size", type=int, default=1000)
parser.add_argument("--epochs", type=int, default=1)
parser.add_argument("--lr", type=float, default=0.01)
parser.add_argument("--momentum", type=float, default=0.5)
parser.add_argument("--seed", type=int, default=1)
parser.add_argument("--log-interval", type=int, default=10)
parser.add_argument("--num-processes", type=int, default=2)
parser.add_argument("--max-batches", type=int, default=10 ** 9)
parser.add_argument("--result", default=None)


class Net(nn.Module):
    def __init__(self):
        super(Net, self).__init__()
        self.fc1 = nn.Linear(784, 64)
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x):
        x = x.view(-1, 784)
        x = F.relu(self.fc1(x))
        x = F.dropout(x, p=0.1, training=self.training)
        x = self.fc2(x)
        return F.log_softmax(x, dim=1)


# ---- train.py ----------------------------------------------------------------------------------
def train(rank, args, model, device, dataset, dataloader_kwargs):
    torch.manual_seed(args.seed + rank)
    train_loader = torch.utils.data.DataLoader(dataset, **dataloader_kwargs)
    optimizer = optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum)
    for epoch in range(1, args.epochs + 1):
        train_epoch(epoch, args, model, device, train_loader, optimizer)


def test(args, model, device, dataset, dataloader_kwargs):
    torch.manual_seed(args.seed)
    test_loader = torch.utils.data.DataLoader(dataset, **dataloader_kwargs)
    return test_epoch(model, device, test_loader)


def train_epoch(epoch, args, model, device, data_loader, optimizer):
    model.train()
    pid = os.getpid()
    for batch_idx, (data, target) in enumerate(data_loader):
        optimizer.zero_grad()
        output = model(data.to(device))
        loss = F.nll_loss(output, target.to(device))
        loss.backward()
        optimizer.step()
        if batch_idx % args.log_interval == 0:
            print("{}\tTrain Epoch: {} [{}/{} ({:.0f}%)]\tLoss: {:.6f}".format(
                pid, epoch, batch_idx * len(data), len(data_loader.dataset),
                100. * batch_idx / len(data_loader), loss.item()))
        if batch_idx + 1 >= args.max_batches:
            break


def test_epoch(model, device, data_loader):
    model.eval()
    test_loss = 0
    correct = 0
    with torch.no_grad():
        for data, target in data_loader:
            output = model(data.to(device))
            test_loss += F.nll_loss(output, target.to(device), reduction="sum").item()
            pred = output.max(1)[1]
            correct += (pred == target.to(device)).sum().item()   # no Tensor.eq yet
    test_loss /= len(data_loader.dataset)
    print("\nTest set: Average loss: {:.4f}, Accuracy: {}/{} ({:.0f}%)\n".format(
        test_loss, correct, len(data_loader.dataset), 100. * correct / len(data_loader.dataset)))
    return test_loss, correct / len(data_loader.dataset)


# ---- main.py -----------------------------------------------------------------------------------
if __name__ == "__main__":
    args = parser.parse_args()
    device = torch.device("cpu")
    x, y, x_test, y_test = torch.datasets.mnist_sample()
    dataset1 = torch.utils.data.TensorDataset(torch.tensor(x), torch.tensor(y))
    dataset2 = torch.utils.data.TensorDataset(torch.tensor(x_test), torch.tensor(y_test))
    kwargs = {"batch_size": args.batch_size, "shuffle": True}

    torch.manual_seed(args.seed)
    mp.set_start_method("spawn", force=True)

    model = Net().to(device)
    model.share_memory()  # gradients are allocated lazily, so they are not shared here
    before = test(args, model, device, dataset2, kwargs)

    processes = []
    for rank in range(args.num_processes):
        p = mp.Process(target=train, args=(rank, args, model, device, dataset1, kwargs))
        p.start()
        processes.append(p)
    for p in processes:
        p.join()

    after = test(args, model, device, dataset2, kwargs)
    if args.result:
        with open(args.result, "w") as f:
            json.dump({"exitcodes": [p.exitcode for p in processes], "before": before,
                       "after": after, "start_method": mp.get_start_method()}, f)
