# Origin: yunjey/pytorch-tutorial, tutorials/02-intermediate/language_model/main.py, commit 0500d3df5a2a8080ccfccbc00aca0eacc21818db
# Licence: MIT (Copyright (c) 2017 Yunjey Choi)
# Changes (model, loss, optimizer and loop verbatim):
# - Penn Treebank file replaced by a synthetic Markov-chain corpus of 13000 tokens, vocabulary 50, in the same
#   (batch_size, -1) layout (Corpus.get_data rewritten, Dictionary copied from data_utils.py); torch.manual_seed(0)
# - hidden_size 1024 -> 64, num_samples 1000 -> 50 (5 epochs x 21 batches = 105 steps)
# - sample.txt and the checkpoint written into temp dirs; prints final_loss=... at the end
# Some part of the code was referenced from below.
# https://github.com/pytorch/examples/tree/master/word_language_model 
import torch
import torch.nn as nn
import numpy as np
from torch.nn.utils import clip_grad_norm_
import os
import tempfile


class Dictionary(object):  # from data_utils.py (same repository), verbatim
    def __init__(self):
        self.word2idx = {}
        self.idx2word = {}
        self.idx = 0
    
    def add_word(self, word):
        if not word in self.word2idx:
            self.word2idx[word] = self.idx
            self.idx2word[self.idx] = word
            self.idx += 1
    
    def __len__(self):
        return len(self.word2idx)


class Corpus(object):  # adaptation: a synthetic corpus instead of reading data/train.txt (Penn Treebank)
    """Words w0..w49 drawn from a fixed random Markov chain (each word has 3 likely successors), so the next
    word is learnable; get_data returns the same (batch_size, -1) LongTensor layout as data_utils.Corpus."""

    def __init__(self):
        self.dictionary = Dictionary()

    def get_data(self, path, batch_size=20, tokens=13000, vocab=50):
        for w in range(vocab):
            self.dictionary.add_word('w%d' % w if w else '<eos>')
        succ = torch.randint(0, vocab, (vocab, 3))
        ids = torch.LongTensor(tokens)
        ids[0] = 0
        for t in range(1, tokens):
            ids[t] = succ[ids[t - 1], torch.randint(0, 3, ()).item()]
        num_batches = ids.size(0) // batch_size
        ids = ids[:num_batches*batch_size]
        return ids.view(batch_size, -1)


torch.manual_seed(0)


# Device configuration
device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')

# Hyper-parameters
embed_size = 128
hidden_size = 64
num_layers = 1
num_epochs = 5
num_samples = 50     # number of words to be sampled
batch_size = 20
seq_length = 30
learning_rate = 0.002

# Load "Penn Treebank" dataset
corpus = Corpus()
ids = corpus.get_data('data/train.txt', batch_size)
vocab_size = len(corpus.dictionary)
num_batches = ids.size(1) // seq_length


# RNN based language model
class RNNLM(nn.Module):
    def __init__(self, vocab_size, embed_size, hidden_size, num_layers):
        super(RNNLM, self).__init__()
        self.embed = nn.Embedding(vocab_size, embed_size)
        self.lstm = nn.LSTM(embed_size, hidden_size, num_layers, batch_first=True)
        self.linear = nn.Linear(hidden_size, vocab_size)
        
    def forward(self, x, h):
        # Embed word ids to vectors
        x = self.embed(x)
        
        # Forward propagate LSTM
        out, (h, c) = self.lstm(x, h)
        
        # Reshape output to (batch_size*sequence_length, hidden_size)
        out = out.reshape(out.size(0)*out.size(1), out.size(2))
        
        # Decode hidden states of all time steps
        out = self.linear(out)
        return out, (h, c)

model = RNNLM(vocab_size, embed_size, hidden_size, num_layers).to(device)

# Loss and optimizer
criterion = nn.CrossEntropyLoss()
optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)

# Truncated backpropagation
def detach(states):
    return [state.detach() for state in states] 

# Train the model
for epoch in range(num_epochs):
    # Set initial hidden and cell states
    states = (torch.zeros(num_layers, batch_size, hidden_size).to(device),
              torch.zeros(num_layers, batch_size, hidden_size).to(device))
    
    for i in range(0, ids.size(1) - seq_length, seq_length):
        # Get mini-batch inputs and targets
        inputs = ids[:, i:i+seq_length].to(device)
        targets = ids[:, (i+1):(i+1)+seq_length].to(device)
        
        # Forward pass
        states = detach(states)
        outputs, states = model(inputs, states)
        loss = criterion(outputs, targets.reshape(-1))
        
        # Backward and optimize
        optimizer.zero_grad()
        loss.backward()
        clip_grad_norm_(model.parameters(), 0.5)
        optimizer.step()

        step = (i+1) // seq_length
        if step % 100 == 0:
            print ('Epoch [{}/{}], Step[{}/{}], Loss: {:.4f}, Perplexity: {:5.2f}'
                   .format(epoch+1, num_epochs, step, num_batches, loss.item(), np.exp(loss.item())))

# Test the model
with torch.no_grad():
    with open(os.path.join(tempfile.mkdtemp(), 'sample.txt'), 'w') as f:
        # Set intial hidden ane cell states
        state = (torch.zeros(num_layers, 1, hidden_size).to(device),
                 torch.zeros(num_layers, 1, hidden_size).to(device))

        # Select one word id randomly
        prob = torch.ones(vocab_size)
        input = torch.multinomial(prob, num_samples=1).unsqueeze(1).to(device)

        for i in range(num_samples):
            # Forward propagate RNN 
            output, state = model(input, state)

            # Sample a word id
            prob = output.exp()
            word_id = torch.multinomial(prob, num_samples=1).item()

            # Fill input with sampled word id for the next time step
            input.fill_(word_id)

            # File write
            word = corpus.dictionary.idx2word[word_id]
            word = '\n' if word == '<eos>' else word + ' '
            f.write(word)

            if (i+1) % 100 == 0:
                print('Sampled [{}/{}] words and save to {}'.format(i+1, num_samples, 'sample.txt'))

# Save the model checkpoints
torch.save(model.state_dict(), os.path.join(tempfile.mkdtemp(), 'model.ckpt'))
print('final_loss={:.4f} (uniform would be {:.4f})'.format(loss.item(), np.log(vocab_size)))