"""The supervised baselines GRPO is compared against: base A fine-tuned on shorter CoTs.

- `config`: the `baselines` config group (which baselines, seeds, steps, lr, batch);
- `targets`: what each baseline trains on, and why;
- `train`: the runs, with the warm start's SFT loop;
- `runs`: a run's folder and provenance, and which runs the evaluation may use.
"""
