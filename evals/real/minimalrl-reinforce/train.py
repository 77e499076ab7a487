# Origin: seungeunrho/minimalRL, REINFORCE.py, commit c8efed8481e3cd40e9739cfde220a55522555b57
# Licence: MIT (Copyright (c) 2019 seungeunrho)
# Changes (model, loss, optimizer and loop verbatim):
# - gym is not installed: a small CartPole-v1 class with the same dynamics and API stands in for gym.make
# - torch.manual_seed(0); episodes 10000 -> 300
# - prints final_avg_score=... (mean episode length since the last report) at the end
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from torch.distributions import Categorical
import math
import numpy as np


class _CartPole:
    """adaptation: gym is not installed here; CartPole-v1's classic dynamics (Barto, Sutton & Anderson 1983, as
    in gym's cartpole.py) with the gym >= 0.26 API: reset() -> (obs, info), step(a) -> (obs, r, terminated,
    truncated, info); episodes truncate at 500 steps."""

    def __init__(self):
        self.rng = np.random.RandomState(0)

    def reset(self):
        self.state = self.rng.uniform(-0.05, 0.05, 4)
        self.t = 0
        return self.state.astype(np.float32), {}

    def step(self, action):
        x, x_dot, theta, theta_dot = self.state
        force = 10.0 if action == 1 else -10.0
        cos, sin = math.cos(theta), math.sin(theta)
        temp = (force + 0.05 * theta_dot ** 2 * sin) / 1.1
        thetaacc = (9.8 * sin - cos * temp) / (0.5 * (4.0 / 3.0 - 0.1 * cos ** 2 / 1.1))
        xacc = temp - 0.05 * thetaacc * cos / 1.1
        x, x_dot = x + 0.02 * x_dot, x_dot + 0.02 * xacc
        theta, theta_dot = theta + 0.02 * theta_dot, theta_dot + 0.02 * thetaacc
        self.state = np.array([x, x_dot, theta, theta_dot])
        self.t += 1
        terminated = bool(abs(x) > 2.4 or abs(theta) > 12 * 2 * math.pi / 360)
        return self.state.astype(np.float32), 1.0, terminated, self.t >= 500, {}

    def close(self):
        pass


class gym:  # noqa: N801  (stands in for the gym module)
    @staticmethod
    def make(name):
        return _CartPole()

torch.manual_seed(0)

#Hyperparameters
learning_rate = 0.0002
gamma         = 0.98

class Policy(nn.Module):
    def __init__(self):
        super(Policy, self).__init__()
        self.data = []
        
        self.fc1 = nn.Linear(4, 128)
        self.fc2 = nn.Linear(128, 2)
        self.optimizer = optim.Adam(self.parameters(), lr=learning_rate)
        
    def forward(self, x):
        x = F.relu(self.fc1(x))
        x = F.softmax(self.fc2(x), dim=0)
        return x
      
    def put_data(self, item):
        self.data.append(item)
        
    def train_net(self):
        R = 0
        self.optimizer.zero_grad()
        for r, prob in self.data[::-1]:
            R = r + gamma * R
            loss = -torch.log(prob) * R
            loss.backward()
        self.optimizer.step()
        self.data = []

def main():
    env = gym.make('CartPole-v1')
    pi = Policy()
    score = 0.0
    print_interval = 20
    
    
    for n_epi in range(300):
        s, _ = env.reset()
        done = False
        
        while not done: # CartPole-v1 forced to terminates at 500 step.
            prob = pi(torch.from_numpy(s).float())
            m = Categorical(prob)
            a = m.sample()
            s_prime, r, done, truncated, info = env.step(a.item())
            pi.put_data((r,prob[a]))
            s = s_prime
            score += r
            
        pi.train_net()
        
        if n_epi%print_interval==0 and n_epi!=0:
            print("# of episode :{}, avg score : {}".format(n_epi, score/print_interval))
            score = 0.0
    print('final_avg_score={:.1f}'.format(score / (n_epi % print_interval)))
    env.close()
    
if __name__ == '__main__':
    main()