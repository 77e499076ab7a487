# Origin: kuangliu/pytorch-cifar, main.py, commit 49b7aa97b0c12fe0d4054e670403a16b6b834ddd
# Licence: MIT (Copyright (c) 2017 liukuang)
# Changes (loss, optimizer, schedulers and loop verbatim):
# - torchvision CIFAR-10 (download) replaced by synthetic normalised 3x32x32 tensors (class prototype + noise),
#   1280 train / 500 test, same DataLoaders (batch 128/100, num_workers=2); no crop/flip augmentation
# - net = SimpleDLA() -> LeNet() (models/lenet.py of the same repo, inlined) for CPU time; 200 epochs -> 10
#   (100 steps; CosineAnnealingLR T_max=200 kept)
# - utils.progress_bar (needs a tty) replaced by a print of the epoch's last line; checkpoint dir in a temp dir
# - torch.manual_seed(0); prints final_best_accuracy=... at the end
'''Train CIFAR10 with PyTorch.'''
import torch
import torch.nn as nn
import torch.optim as optim
import torch.nn.functional as F
import torch.backends.cudnn as cudnn

import os
import argparse
import tempfile


# ---- models/lenet.py (same commit) ----
class LeNet(nn.Module):
    def __init__(self):
        super(LeNet, self).__init__()
        self.conv1 = nn.Conv2d(3, 6, 5)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1   = nn.Linear(16*5*5, 120)
        self.fc2   = nn.Linear(120, 84)
        self.fc3   = nn.Linear(84, 10)

    def forward(self, x):
        out = F.relu(self.conv1(x))
        out = F.max_pool2d(out, 2)
        out = F.relu(self.conv2(out))
        out = F.max_pool2d(out, 2)
        out = out.view(out.size(0), -1)
        out = F.relu(self.fc1(out))
        out = F.relu(self.fc2(out))
        out = self.fc3(out)
        return out


def progress_bar(current, total, msg=None):  # adaptation: utils.progress_bar reads `stty size` (needs a tty)
    if current == total - 1:
        print(msg)


torch.manual_seed(0)
CKPT_DIR = tempfile.mkdtemp()  # adaptation: ./checkpoint -> a temp dir


parser = argparse.ArgumentParser(description='PyTorch CIFAR10 Training')
parser.add_argument('--lr', default=0.1, type=float, help='learning rate')
parser.add_argument('--resume', '-r', action='store_true',
                    help='resume from checkpoint')
args = parser.parse_args()

device = 'cuda' if torch.cuda.is_available() else 'cpu'
best_acc = 0  # best test accuracy
start_epoch = 0  # start from epoch 0 or last checkpoint epoch

# Data
print('==> Preparing data..')
# adaptation: synthetic stand-in for CIFAR-10 (3x32x32 images normalised with the same mean/std, int64 labels),
# each image a fixed random class prototype plus noise; the torchvision transforms are not applied
_prototypes = torch.rand(10, 3, 32, 32)
_mean = torch.tensor((0.4914, 0.4822, 0.4465)).view(3, 1, 1)
_std = torch.tensor((0.2023, 0.1994, 0.2010)).view(3, 1, 1)


def _synthetic_cifar(n):
    y = torch.randint(0, 10, (n,))
    x = 0.5 * _prototypes[y] + 0.5 * torch.rand(n, 3, 32, 32)
    return torch.utils.data.TensorDataset((x - _mean) / _std, y)


trainset = _synthetic_cifar(1280)
trainloader = torch.utils.data.DataLoader(
    trainset, batch_size=128, shuffle=True, num_workers=2)

testset = _synthetic_cifar(500)
testloader = torch.utils.data.DataLoader(
    testset, batch_size=100, shuffle=False, num_workers=2)

classes = ('plane', 'car', 'bird', 'cat', 'deer',
           'dog', 'frog', 'horse', 'ship', 'truck')

# Model
print('==> Building model..')
# net = VGG('VGG19')
# net = ResNet18()
# net = PreActResNet18()
# net = GoogLeNet()
# net = DenseNet121()
# net = ResNeXt29_2x64d()
# net = MobileNet()
# net = MobileNetV2()
# net = DPN92()
# net = ShuffleNetG2()
# net = SENet18()
# net = ShuffleNetV2(1)
# net = EfficientNetB0()
# net = RegNetX_200MF()
net = LeNet()
net = net.to(device)
if device == 'cuda':
    net = torch.nn.DataParallel(net)
    cudnn.benchmark = True

if args.resume:
    # Load checkpoint.
    print('==> Resuming from checkpoint..')
    assert os.path.isdir('checkpoint'), 'Error: no checkpoint directory found!'
    checkpoint = torch.load('./checkpoint/ckpt.pth')
    net.load_state_dict(checkpoint['net'])
    best_acc = checkpoint['acc']
    start_epoch = checkpoint['epoch']

criterion = nn.CrossEntropyLoss()
optimizer = optim.SGD(net.parameters(), lr=args.lr,
                      momentum=0.9, weight_decay=5e-4)
scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=200)


# Training
def train(epoch):
    print('\nEpoch: %d' % epoch)
    net.train()
    train_loss = 0
    correct = 0
    total = 0
    for batch_idx, (inputs, targets) in enumerate(trainloader):
        inputs, targets = inputs.to(device), targets.to(device)
        optimizer.zero_grad()
        outputs = net(inputs)
        loss = criterion(outputs, targets)
        loss.backward()
        optimizer.step()

        train_loss += loss.item()
        _, predicted = outputs.max(1)
        total += targets.size(0)
        correct += predicted.eq(targets).sum().item()

        progress_bar(batch_idx, len(trainloader), 'Loss: %.3f | Acc: %.3f%% (%d/%d)'
                     % (train_loss/(batch_idx+1), 100.*correct/total, correct, total))


def test(epoch):
    global best_acc
    net.eval()
    test_loss = 0
    correct = 0
    total = 0
    with torch.no_grad():
        for batch_idx, (inputs, targets) in enumerate(testloader):
            inputs, targets = inputs.to(device), targets.to(device)
            outputs = net(inputs)
            loss = criterion(outputs, targets)

            test_loss += loss.item()
            _, predicted = outputs.max(1)
            total += targets.size(0)
            correct += predicted.eq(targets).sum().item()

            progress_bar(batch_idx, len(testloader), 'Loss: %.3f | Acc: %.3f%% (%d/%d)'
                         % (test_loss/(batch_idx+1), 100.*correct/total, correct, total))

    # Save checkpoint.
    acc = 100.*correct/total
    if acc > best_acc:
        print('Saving..')
        state = {
            'net': net.state_dict(),
            'acc': acc,
            'epoch': epoch,
        }
        if not os.path.isdir(os.path.join(CKPT_DIR, 'checkpoint')):
            os.mkdir(os.path.join(CKPT_DIR, 'checkpoint'))
        torch.save(state, os.path.join(CKPT_DIR, 'checkpoint/ckpt.pth'))
        best_acc = acc


for epoch in range(start_epoch, start_epoch+10):
    train(epoch)
    test(epoch)
    scheduler.step()
print('final_best_accuracy={:.2f}'.format(best_acc))
