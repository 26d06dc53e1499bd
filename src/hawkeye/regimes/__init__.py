"""The regime map: in which regimes does Model B in the training loop prevent collapse?

Claim (1) needs two things the default testbed lacks: without B a near-empty CoT must still pay (A can
answer some questions in its head), and with B, B must need what the CoT carries. The map sets each
ingredient on purpose, checks it on the validation split, then trains A with and without B in every
(A regime, B regime) cell and reads every trained A through every B (`hawkeye.regimes.run`).
"""
