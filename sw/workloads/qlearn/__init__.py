"""`qmatmul run qlearn`: a DQN on CartPole-v1 whose greedy policy runs on the core.

- `training`: the environment, the DQN (replay buffer, target network, Double-DQN
  targets), greedy evaluation, and the trained agent on disk (cache keyed by
  `DQNConfig`, the seed and the training code);
- `policy`: the quantized Q-network (PTQ, then QAT as a DAgger-style distillation of
  the float network) and `CorePolicy`, which computes every Q-value on a device;
- `cli`: the command (`main`), its table, figure and ``results.json``.

Nothing is imported here, so ``qmatmul run qlearn --help`` stays fast.
"""
