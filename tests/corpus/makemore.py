# ruff: noqa: E501  (the original's long lines, kept as written)
"""Andrej Karpathy's makemore lectures (github.com/karpathy/nn-zero-to-hero, MIT licence):
part 1 (bigram counts and the one-layer bigram net), part 2 (the MLP of Bengio et al. 2003) and
part 3 (BatchNorm by hand, then the "torchified" Linear / BatchNorm1d / Tanh classes). The code is
the notebooks' own; only the sizes and step counts are smaller, names.txt is a short list of
names below, and the training loops are split at the notebooks' minibatch line so the step after
it can be compiled (`step(Xb, Yb)`).
"""
from __future__ import annotations

# A few of names.txt's first entries, plus names that bring in every letter.
WORDS = ("emma olivia ava isabella sophia charlotte mia amelia harper evelyn abigail emily "
         "elizabeth mila ella avery sofia camila aria scarlett victoria madison luna grace chloe "
         "penelope layla riley zoey nora lily eleanor hannah lillian addison aubrey ellie stella "
         "natalie zoe leah hazel violet aurora savannah audrey brooklyn bella claire skylar lucy "
         "paisley everly anna caroline nova genesis emilia kennedy samantha maya willow kinsley "
         "naomi aaliyah elena sarah ariana allison gabriella alice madelyn cora ruby eva serenity "
         "autumn adeline hailey gianna valentina isla eliana quinn nevaeh ivy sadie piper lydia "
         "alexa josephine emery julia delilah arianna vivian kaylee sophie brielle madeline "
         "xavier jake").split()


def _vocab(words):
    chars = sorted(list(set(''.join(words))))
    stoi = {s: i + 1 for i, s in enumerate(chars)}
    stoi['.'] = 0
    itos = {i: s for s, i in stoi.items()}
    return stoi, itos


def bigram(torch, compile):
    """Part 1: the count matrix `N[ix1, ix2] += 1`, its likelihood, sampling from `P[ix]`, then
    the same model as a 27x27 weight trained by gradient descent on one-hot inputs."""
    F = torch.nn.functional
    words = WORDS
    stoi, itos = _vocab(words)
    N = torch.zeros((27, 27), dtype=torch.int32)
    for w in words:
        chs = ['.'] + list(w) + ['.']
        for ch1, ch2 in zip(chs, chs[1:]):
            ix1 = stoi[ch1]
            ix2 = stoi[ch2]
            N[ix1, ix2] += 1

    P = (N + 1).float()
    P /= P.sum(1, keepdims=True)

    g = torch.Generator().manual_seed(2147483647)
    names = []
    for i in range(5):
        out = []
        ix = 0
        while True:
            p = P[ix]
            ix = torch.multinomial(p, num_samples=1, replacement=True, generator=g).item()
            out.append(itos[ix])
            if ix == 0:
                break
        names.append(''.join(out))

    log_likelihood = 0.0
    n = 0
    for w in words:
        chs = ['.'] + list(w) + ['.']
        for ch1, ch2 in zip(chs, chs[1:]):
            ix1 = stoi[ch1]
            ix2 = stoi[ch2]
            prob = P[ix1, ix2]
            logprob = torch.log(prob)
            log_likelihood += logprob
            n += 1
    nll = -log_likelihood
    counts_out = [N.sum().item(), N[0].argmax().item(), log_likelihood.item(), (nll / n).item()]

    # create the dataset
    xs, ys = [], []
    for w in words:
        chs = ['.'] + list(w) + ['.']
        for ch1, ch2 in zip(chs, chs[1:]):
            ix1 = stoi[ch1]
            ix2 = stoi[ch2]
            xs.append(ix1)
            ys.append(ix2)
    xs = torch.tensor(xs)
    ys = torch.tensor(ys)
    num = xs.nelement()

    # initialize the 'network'
    g = torch.Generator().manual_seed(2147483647)
    W = torch.randn((27, 27), generator=g, requires_grad=True)

    @compile
    def step(xs, ys):
        # forward pass
        xenc = F.one_hot(xs, num_classes=27).float()  # input to the network: one-hot encoding
        logits = xenc @ W  # predict log-counts
        counts = logits.exp()  # counts, equivalent to N
        probs = counts / counts.sum(1, keepdims=True)  # probabilities for next character
        loss = -probs[torch.arange(num), ys].log().mean() + 0.01 * (W**2).mean()

        # backward pass
        W.grad = None  # set to zero the gradient
        loss.backward()

        # update
        W.data += -50 * W.grad
        return loss

    losses = []
    for k in range(8):
        loss = step(xs, ys)
        losses.append(loss.item())

    g = torch.Generator().manual_seed(2147483647)
    for i in range(3):
        out = []
        ix = 0
        while True:
            xenc = F.one_hot(torch.tensor([ix]), num_classes=27).float()
            logits = xenc @ W  # predict log-counts
            counts = logits.exp()  # counts, equivalent to N
            p = counts / counts.sum(1, keepdims=True)  # probabilities for next character
            ix = torch.multinomial(p, num_samples=1, replacement=True, generator=g).item()
            out.append(itos[ix])
            if ix == 0:
                break
        names.append(''.join(out))
    return {"counts": counts_out, "losses": losses, "W": W, "names": names}


def build_dataset(torch, words, stoi, block_size):
    X, Y = [], []
    for w in words:
        context = [0] * block_size
        for ch in w + '.':
            ix = stoi[ch]
            X.append(context)
            Y.append(ix)
            context = context[1:] + [ix]  # crop and append
    X = torch.tensor(X)
    Y = torch.tensor(Y)
    return X, Y


def mlp(torch, compile):
    """Part 2: `emb = C[X]`, `emb.view(-1, 30) @ W1 + b1`, F.cross_entropy, `p.data += -lr *
    p.grad`, `loss.log10().item()`, split losses, sampling with torch.multinomial."""
    F = torch.nn.functional
    words = WORDS
    stoi, itos = _vocab(words)
    block_size = 3
    n1 = int(0.8 * len(words))
    Xtr, Ytr = build_dataset(torch, words[:n1], stoi, block_size)
    Xdev, Ydev = build_dataset(torch, words[n1:], stoi, block_size)

    g = torch.Generator().manual_seed(2147483647)  # for reproducibility
    C = torch.randn((27, 10), generator=g)
    W1 = torch.randn((30, 200), generator=g)
    b1 = torch.randn(200, generator=g)
    W2 = torch.randn((200, 27), generator=g)
    b2 = torch.randn(27, generator=g)
    parameters = [C, W1, b1, W2, b2]
    n_params = sum(p.nelement() for p in parameters)  # number of parameters in total
    for p in parameters:
        p.requires_grad = True

    lossi = []
    stepi = []

    @compile
    def step(Xb, Yb, lr):
        # forward pass
        emb = C[Xb]  # (32, 3, 10)
        h = torch.tanh(emb.view(-1, 30) @ W1 + b1)  # (32, 200)
        logits = h @ W2 + b2  # (32, 27)
        loss = F.cross_entropy(logits, Yb)

        # backward pass
        for p in parameters:
            p.grad = None
        loss.backward()

        # update
        for p in parameters:
            p.data += -lr * p.grad
        return loss

    for i in range(12):
        # minibatch construct
        ix = torch.randint(0, Xtr.shape[0], (32,))
        lr = 0.1 if i < 6 else 0.01
        loss = step(Xtr[ix], Ytr[ix], lr)
        # track stats
        stepi.append(i)
        lossi.append(loss.log10().item())

    emb = C[Xtr]  # (32, 3, 2)
    h = torch.tanh(emb.view(-1, 30) @ W1 + b1)  # (32, 100)
    logits = h @ W2 + b2  # (32, 27)
    train_loss = F.cross_entropy(logits, Ytr)
    emb = C[Xdev]  # (32, 3, 2)
    h = torch.tanh(emb.view(-1, 30) @ W1 + b1)  # (32, 100)
    logits = h @ W2 + b2  # (32, 27)
    dev_loss = F.cross_entropy(logits, Ydev)

    # sample from the model
    g = torch.Generator().manual_seed(2147483647 + 10)
    names = []
    for _ in range(4):
        out = []
        context = [0] * block_size  # initialize with all ...
        while True:
            emb = C[torch.tensor([context])]  # (1,block_size,d)
            h = torch.tanh(emb.view(1, -1) @ W1 + b1)
            logits = h @ W2 + b2
            probs = F.softmax(logits, dim=1)
            ix = torch.multinomial(probs, num_samples=1, generator=g).item()
            context = context[1:] + [ix]
            out.append(ix)
            if ix == 0 or len(out) > 20:
                break
        names.append(''.join(itos[i] for i in out))
    return {"lossi": lossi, "split": [train_loss.item(), dev_loss.item(), n_params],
            "params": parameters, "names": names}


def batchnorm_by_hand(torch, compile):
    """Part 3: kaiming-scaled init, `hpreact.mean(0, keepdim=True)`, `hpreact.std(0,
    keepdim=True)`, running statistics updated under `torch.no_grad()`, `split_loss` under
    `@torch.no_grad()` with the running statistics."""
    F = torch.nn.functional
    words = WORDS
    stoi, itos = _vocab(words)
    vocab_size = len(itos)
    block_size = 3
    n1 = int(0.8 * len(words))
    Xtr, Ytr = build_dataset(torch, words[:n1], stoi, block_size)
    Xdev, Ydev = build_dataset(torch, words[n1:], stoi, block_size)

    n_embd = 10  # the dimensionality of the character embedding vectors
    n_hidden = 64  # the number of neurons in the hidden layer of the MLP

    g = torch.Generator().manual_seed(2147483647)  # for reproducibility
    C = torch.randn((vocab_size, n_embd), generator=g)
    W1 = torch.randn((n_embd * block_size, n_hidden), generator=g) * (5/3)/((n_embd * block_size)**0.5)
    # b1 = torch.randn(n_hidden,                        generator=g) * 0.01
    W2 = torch.randn((n_hidden, vocab_size), generator=g) * 0.01
    b2 = torch.randn(vocab_size, generator=g) * 0

    # BatchNorm parameters
    bngain = torch.ones((1, n_hidden))
    bnbias = torch.zeros((1, n_hidden))
    bnmean_running = torch.zeros((1, n_hidden))
    bnstd_running = torch.ones((1, n_hidden))

    parameters = [C, W1, W2, b2, bngain, bnbias]
    for p in parameters:
        p.requires_grad = True

    max_steps = 10
    batch_size = 32
    lossi = []

    @compile
    def step(Xb, Yb, lr):
        nonlocal bnmean_running, bnstd_running
        # forward pass
        emb = C[Xb]  # embed the characters into vectors
        embcat = emb.view(emb.shape[0], -1)  # concatenate the vectors
        # Linear layer
        hpreact = embcat @ W1  # + b1 # hidden layer pre-activation
        # BatchNorm layer
        # -------------------------------------------------------------
        bnmeani = hpreact.mean(0, keepdim=True)
        bnstdi = hpreact.std(0, keepdim=True)
        hpreact = bngain * (hpreact - bnmeani) / bnstdi + bnbias
        with torch.no_grad():
            bnmean_running = 0.999 * bnmean_running + 0.001 * bnmeani
            bnstd_running = 0.999 * bnstd_running + 0.001 * bnstdi
        # -------------------------------------------------------------
        # Non-linearity
        h = torch.tanh(hpreact)  # hidden layer
        logits = h @ W2 + b2  # output layer
        loss = F.cross_entropy(logits, Yb)  # loss function

        # backward pass
        for p in parameters:
            p.grad = None
        loss.backward()

        # update
        for p in parameters:
            p.data += -lr * p.grad
        return loss

    for i in range(max_steps):
        # minibatch construct
        ix = torch.randint(0, Xtr.shape[0], (batch_size,), generator=g)
        Xb, Yb = Xtr[ix], Ytr[ix]  # batch X,Y
        lr = 0.1 if i < 5 else 0.01  # step learning rate decay
        loss = step(Xb, Yb, lr)
        lossi.append(loss.log10().item())

    @torch.no_grad()  # this decorator disables gradient tracking
    def split_loss(split):
        x, y = {
            'train': (Xtr, Ytr),
            'val': (Xdev, Ydev),
        }[split]
        emb = C[x]  # (N, block_size, n_embd)
        embcat = emb.view(emb.shape[0], -1)  # concat into (N, block_size * n_embd)
        hpreact = embcat @ W1  # + b1
        hpreact = bngain * (hpreact - bnmean_running) / bnstd_running + bnbias
        h = torch.tanh(hpreact)  # (N, n_hidden)
        logits = h @ W2 + b2  # (N, vocab_size)
        loss = F.cross_entropy(logits, y)
        return loss.item()

    return {"lossi": lossi, "split": [split_loss('train'), split_loss('val')],
            "params": parameters, "running": [bnmean_running, bnstd_running]}


def torchified(torch, compile):
    """Part 3's "torchified" classes: Linear, BatchNorm1d (x.var(0, keepdim=True), running
    statistics rebound under no_grad), Tanh, `layers[-1].weight *= 0.1`, the update-to-data ratio
    `((lr*p.grad).std() / p.data.std()).log10().item()` and the layers' saturation statistics."""
    F = torch.nn.functional
    words = WORDS
    stoi, itos = _vocab(words)
    vocab_size = len(itos)
    block_size = 3
    Xtr, Ytr = build_dataset(torch, words, stoi, block_size)
    g = torch.Generator().manual_seed(2147483647)  # for reproducibility

    class Linear:

        def __init__(self, fan_in, fan_out, bias=True):
            self.weight = torch.randn((fan_in, fan_out), generator=g) / fan_in**0.5
            self.bias = torch.zeros(fan_out) if bias else None

        def __call__(self, x):
            self.out = x @ self.weight
            if self.bias is not None:
                self.out += self.bias
            return self.out

        def parameters(self):
            return [self.weight] + ([] if self.bias is None else [self.bias])

    class BatchNorm1d:

        def __init__(self, dim, eps=1e-5, momentum=0.1):
            self.eps = eps
            self.momentum = momentum
            self.training = True
            # parameters (trained with backprop)
            self.gamma = torch.ones(dim)
            self.beta = torch.zeros(dim)
            # buffers (trained with a running 'momentum update')
            self.running_mean = torch.zeros(dim)
            self.running_var = torch.ones(dim)

        def __call__(self, x):
            # calculate the forward pass
            if self.training:
                xmean = x.mean(0, keepdim=True)  # batch mean
                xvar = x.var(0, keepdim=True)  # batch variance
            else:
                xmean = self.running_mean
                xvar = self.running_var
            xhat = (x - xmean) / torch.sqrt(xvar + self.eps)  # normalize to unit variance
            self.out = self.gamma * xhat + self.beta
            # update the buffers
            if self.training:
                with torch.no_grad():
                    self.running_mean = (1 - self.momentum) * self.running_mean + self.momentum * xmean
                    self.running_var = (1 - self.momentum) * self.running_var + self.momentum * xvar
            return self.out

        def parameters(self):
            return [self.gamma, self.beta]

    class Tanh:
        def __call__(self, x):
            self.out = torch.tanh(x)
            return self.out

        def parameters(self):
            return []

    n_embd = 10  # the dimensionality of the character embedding vectors
    n_hidden = 32  # the number of neurons in the hidden layer of the MLP

    C = torch.randn((vocab_size, n_embd), generator=g)
    layers = [
        Linear(n_embd * block_size, n_hidden, bias=False), BatchNorm1d(n_hidden), Tanh(),
        Linear(n_hidden, n_hidden, bias=False), BatchNorm1d(n_hidden), Tanh(),
        Linear(n_hidden, vocab_size, bias=False), BatchNorm1d(vocab_size),
    ]

    with torch.no_grad():
        # last layer: make less confident
        layers[-1].gamma *= 0.1
        # all other layers: apply gain
        for layer in layers[:-1]:
            if isinstance(layer, Linear):
                layer.weight *= 1.0  # 5/3

    parameters = [C] + [p for layer in layers for p in layer.parameters()]
    for p in parameters:
        p.requires_grad = True

    max_steps = 8
    batch_size = 32
    lossi = []
    ud = []

    @compile
    def step(Xb, Yb, lr):
        # forward pass
        emb = C[Xb]  # embed the characters into vectors
        x = emb.view(emb.shape[0], -1)  # concatenate the vectors
        for layer in layers:
            x = layer(x)
        loss = F.cross_entropy(x, Yb)  # loss function

        # backward pass
        for p in parameters:
            p.grad = None
        loss.backward()

        # update
        for p in parameters:
            p.data += -lr * p.grad
        return loss

    for i in range(max_steps):
        # minibatch construct
        ix = torch.randint(0, Xtr.shape[0], (batch_size,), generator=g)
        Xb, Yb = Xtr[ix], Ytr[ix]  # batch X,Y
        lr = 0.1 if i < 4 else 0.01  # step learning rate decay
        loss = step(Xb, Yb, lr)
        lossi.append(loss.log10().item())
        with torch.no_grad():
            ud.append([((lr*p.grad).std() / p.data.std()).log10().item() for p in parameters])

    # visualize histograms (the statistics the notebook prints)
    stats = []
    for layer in layers[:-1]:  # note: exclude the output layer
        if isinstance(layer, Tanh):
            t = layer.out
            stats += [t.mean().item(), t.std().item(), (t.abs() > 0.97).float().mean().item()]
    for layer in layers:
        layer.training = False
    x = C[Xtr].view(Xtr.shape[0], -1)
    with torch.no_grad():
        for layer in layers:
            x = layer(x)
    return {"lossi": lossi, "ud": ud, "stats": stats, "params": parameters,
            "running": [t for layer in layers if isinstance(layer, BatchNorm1d)
                        for t in (layer.running_mean, layer.running_var)],
            "eval": [F.cross_entropy(x, Ytr).item()]}


PROGRAMS = [bigram, mlp, batchnorm_by_hand, torchified]
