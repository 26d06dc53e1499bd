"""The reward of Algorithm 1: exact match of B's answer minus a squared length penalty on A's CoT.

(Kept import-free: `hawkeye.config` imports `reward.config`, and the checker pulls in sympy.)
"""
