"""PICO's training loop: collect (x, mask, action on x_hat) -> train D -> train R -> train the compressor; repeat.

>>> # cfg = PICOConfig(budget=0.25, rounds=2); pico = PICO(domain, cfg).fit(domain); mask = pico.masks(feats, rng)

One round (Reddy, Dragan & Levine 2021, as their released code does it, with the changes marked *):

1. **Collect.** For ``passes`` masks per training observation (a share ``explore`` drawn uniformly at random,
   the rest *drawn around the compressor's top-k* with Gumbel noise), the receiver's latents z_tilde (kept blocks
   quantised, dropped ones filled, *with a fresh fill per pass* where the domain's fill is random) and the action
   the user takes on the reconstruction, a_hat = argmax user(x_hat).
2. **Discriminator.** D(x, a) = softmax(g(x))_a (``discriminator="categorical"``), or for continuous actions
   (*``"gaussian"``*) the Gaussian score exp(-|g(x) - a|^2 / 2 s^2), is fit with binary cross-entropy:
   (x, a_user(x)) -> 1, (x, a_hat) -> ``negative_label`` (a soft label, because a_hat often *is* the user's action).
3. **Reward model.** R(x, mask) regresses D(x, a_hat) (the ``agreement`` objective) or 1 - pixel MAE(x, x_hat)
   (the ``perceptual`` baseline) over the collected masks.
4. **Compressor.** ``update="subsets"`` (*default*): the logits l define a policy over k-subsets,
   P(S | x) = softmax_S(sum_{i in S} l_i), and the compressor maximises E_P[log R(x, S)] + ``entropy`` * H(P)
   exactly, averaging over all C(K, k) subsets (or ``max_subsets`` sampled ones). R is only ever queried on hard
   masks of the size it was trained on, and the gradient does not vanish before the policy has settled per
   observation. ``update="relaxed"`` is the original's estimator: maximise log R(x, m) through the relaxed mask
   m = sigmoid((logits - t) / tau) with t set so m sums to rho K. It saturates within a few epochs (the logits
   grow without bound, every relaxed entry ends at 0 or 1, the gradient vanishes) and locks in R's first global
   preference: one mask for every observation. With ``rate_lambda > 0``: maximise log R(x, m) - lambda * bits(m)
   with a straight-through hard mask (logits > 0) so each observation picks its own k.

At deployment the compressor keeps its top-k blocks (the policy's mode) with k drawn by randomised rounding (mean
exactly rho K), or (rate-aware) the blocks with positive logits.

*Informative blocks first* (``informative_kl``): a block whose posterior q(z_b | x) is the prior p(z_b) carries
nothing about x (the sender's sample and the receiver's prior fill are draws of the same law), so bits spent on it
are wasted. ``fit`` marks blocks whose mean KL(q(z_b | x) || p(z_b)) over the training observations
(``Domain.block_kl``) is below the threshold as uninformative; collection, the subset policy and deployment then
choose among informative blocks only while k <= #informative, and above that keep all of them and choose the rest
among the others (the compressor's logits rank them). The rate-aware compressor keeps informative blocks only.
The relaxed update (the original's, kept as an ablation) ignores it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from dgmlab.pico.bitstream import quantize
from dgmlab.pico.domain import Domain
from dgmlab.pico.masking import (
    budget_to_k,
    candidate_subsets,
    check_budget,
    gumbel_topk_mask,
    informative_blocks,
    k_distribution,
    random_mask,
    relaxed_mask,
    straight_through_mask,
    subset_log_policy,
    topk_mask,
)
from dgmlab.pico.nets import Compressor, Discriminator, GaussianDiscriminator, RewardModel, fit_minibatches

__all__ = ["GAUSSIAN_ENTROPY_BITS", "PICO", "PICOConfig", "collect", "received_latents"]

GAUSSIAN_ENTROPY_BITS = 0.5 * np.log2(2 * np.pi * np.e)  # differential entropy of N(0, 1) in bits
_LOG_EPS = 1e-6


@dataclass
class PICOConfig:
    """Settings of one PICO run (defaults: the paper's loop at this package's scale)."""

    budget: float = 0.25
    """rho: fraction of latent blocks kept (in expectation). Ignored for masks when ``rate_lambda > 0``."""
    objective: str = "agreement"
    """``agreement`` (PICO) or ``perceptual`` (R regresses 1 - pixel MAE: the perceptual baseline)."""
    discriminator: str = "categorical"
    """``categorical``: D(x, a) = softmax(g(x))_a over discrete actions; ``gaussian``: a Gaussian score around g(x)
    for the domain's continuous actions (``Domain.action_values``)."""
    rounds: int = 1
    """Collect / D / R / compressor rounds (the original ran one)."""
    passes: int = 8
    """Masks collected per training observation per round."""
    explore: float = 0.5
    """Share of collected masks drawn uniformly at random instead of from the compressor."""
    negative_label: float = 0.25
    """Soft target for (x, action on x_hat) pairs in the discriminator's loss."""
    hidden: int = 128
    """Hidden width of all three MLPs."""
    lr: float = 1e-3
    """Adam learning rate of all three."""
    batch_size: int = 128
    disc_epochs: int = 20
    reward_epochs: int = 20
    comp_epochs: int = 20
    update: str = "subsets"
    """Compressor update: ``subsets`` (exact expectation over k-subsets) or ``relaxed`` (the original's sigmoid)."""
    entropy: float = 0.1
    """``subsets``: weight of the policy's entropy (nats) in the compressor's objective. Without it the policy
    settles on R's first global preference (the gradient towards a better mask for one x scales with the
    probability the policy still gives that mask); at 0.1 it keeps 2.5-3 bits of entropy on digits."""
    max_subsets: int = 256
    """``subsets``: above this many k-subsets, the expectation runs over this many sampled ones per batch."""
    temperature: float = 0.5
    """Temperature of the relaxed mask (``relaxed``) and of the exploration noise around the compressor."""
    step: float = 0.25
    """Quantisation step of kept latents (the same one the bitstream uses)."""
    rate_lambda: float = 0.0
    """> 0: the rate-aware objective log R - lambda * estimated bits, with a variable number of blocks."""
    informative_kl: float = 0.01
    """Nats per block: blocks whose mean KL(q(z_b | x) || p(z_b)) on the training observations is below this are
    uninformative and ranked after all others (see the module docstring); 0 disables. Needs ``Domain.block_kl``
    (domains without it: no block is marked)."""
    seed: int = 0

    def __post_init__(self) -> None:
        check_budget(self.budget)
        if self.objective not in ("agreement", "perceptual"):
            raise ValueError(f"objective: expected 'agreement' or 'perceptual', got {self.objective!r}")
        if self.discriminator not in ("categorical", "gaussian"):
            raise ValueError(f"discriminator: expected 'categorical' or 'gaussian', got {self.discriminator!r}")
        if self.rounds < 1 or self.passes < 1:
            raise ValueError(f"rounds and passes must be >= 1, got {self.rounds}, {self.passes}")
        if not 0 <= self.explore <= 1 or not 0 <= self.negative_label < 1:
            raise ValueError("explore must lie in [0, 1] and negative_label in [0, 1)")
        if self.rate_lambda < 0 or not self.step > 0:
            raise ValueError(f"rate_lambda must be >= 0 and step > 0, got {self.rate_lambda}, {self.step}")
        if self.update not in ("subsets", "relaxed"):
            raise ValueError(f"update: expected 'subsets' or 'relaxed', got {self.update!r}")
        if self.entropy < 0 or self.max_subsets < 2 or not self.temperature > 0:
            raise ValueError(f"entropy must be >= 0, max_subsets >= 2 and temperature > 0, got {self.entropy}, "
                             f"{self.max_subsets}, {self.temperature}")
        if not (np.isfinite(self.informative_kl) and self.informative_kl >= 0):
            raise ValueError(f"informative_kl: expected a KL threshold >= 0 in nats per block (0 disables), got "
                             f"{self.informative_kl!r}")


def received_latents(domain: Domain, mask: np.ndarray, step: float,
                     rng: np.random.Generator | None = None) -> np.ndarray:
    """What the receiver decodes: kept blocks quantised with ``step``, dropped ones filled by the domain (with
    ``rng``: by a fresh draw of its fill, where it has one)."""
    keep = np.repeat(mask, domain.block_size, axis=1)
    values = np.where(keep, quantize(domain.latents, step), np.nan)
    if rng is not None and domain.fill_draw is not None:
        return domain.fill_draw(values, rng)
    return domain.fill(values)


def _compressor_dim(domain: Domain) -> int:
    """Width of what the compressor sees: the features, or for video domains features + receiver state."""
    return domain.features.shape[1] + domain.state_dim


def _action_dim(domain: Domain, cfg: PICOConfig) -> int:
    """Width of the domain's continuous actions for the gaussian discriminator (0 for the categorical one)."""
    if cfg.discriminator != "gaussian":
        return 0
    if domain.action_values is None:
        raise ValueError("discriminator='gaussian' needs a domain with continuous actions (Domain.action_values); "
                         "use discriminator='categorical' for discrete ones")
    return int(np.asarray(domain.action_values(domain.latents[:1])).shape[1])


def _tensor(a: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(np.asarray(a, np.float32))


def _epochs(model_params, loss_fn, n: int, epochs: int, cfg: PICOConfig, gen: torch.Generator) -> list[float]:
    return fit_minibatches(model_params, loss_fn, n, epochs, cfg.batch_size, cfg.lr, gen)


def collect(domain: Domain, masks: np.ndarray, step: float, rng: np.random.Generator | None = None,
            continuous: bool = False) -> dict[str, np.ndarray]:
    """One pass over the domain with the given (N, K) masks: the user's action on x_hat (its index, or with
    ``continuous`` its continuous value) and the pixel error (with ``rng``: under a fresh draw of the fill)."""
    z = received_latents(domain, masks, step, rng)
    action = domain.action_values(z) if continuous else domain.user_probs(z).argmax(1)
    return {"mask": masks, "action": action, "mae": domain.distortion(z)}


def _positives(domain: Domain, cfg: PICOConfig) -> np.ndarray:
    """The user's actions on the originals, as the discriminator takes them."""
    return domain.action_values(domain.latents) if cfg.discriminator == "gaussian" else domain.user_actions


class PICO:
    """Compressor + discriminator + reward model for one domain shape (features F, K blocks, A actions)."""

    def __init__(self, feature_dim: int, num_blocks: int, num_actions: int, block_size: int,
                 cfg: PICOConfig | None = None, disc_feature_dim: int | None = None, action_dim: int = 0) -> None:
        """``num_actions``: discrete actions; ``action_dim``: width of continuous actions (``gaussian`` only)."""
        self.cfg = cfg or PICOConfig()
        disc_feature_dim = disc_feature_dim or feature_dim
        gaussian = self.cfg.discriminator == "gaussian"
        if gaussian and action_dim < 1:
            raise ValueError("action_dim: the gaussian discriminator needs the width of the continuous actions")
        self.shape = {"feature_dim": feature_dim, "num_blocks": num_blocks, "num_actions": num_actions,
                      "block_size": block_size, "disc_feature_dim": disc_feature_dim, "action_dim": action_dim}
        torch.manual_seed(self.cfg.seed)
        self.compressor = Compressor(feature_dim, num_blocks, self.cfg.hidden)
        self.discriminator = (GaussianDiscriminator(disc_feature_dim, action_dim, self.cfg.hidden) if gaussian
                              else Discriminator(disc_feature_dim, num_actions, self.cfg.hidden))
        self.reward = RewardModel(feature_dim, num_blocks, self.cfg.hidden)
        self.informative = np.ones(num_blocks, bool)
        """(K,) bool: the blocks ranked first (set by ``fit`` from the training domain's ``block_kl``)."""
        self.history: dict[str, list[float]] = {"disc": [], "reward": [], "comp": [], "comp_entropy": [],
                                                "comp_saturation": []}

    @classmethod
    def for_domain(cls, domain: Domain, cfg: PICOConfig | None = None) -> PICO:
        return cls(_compressor_dim(domain), domain.num_blocks, domain.num_actions, domain.block_size, cfg,
                   domain.features.shape[1], _action_dim(domain, cfg or PICOConfig()))

    def _check(self, domain: Domain) -> None:
        got = (_compressor_dim(domain), domain.num_blocks, domain.num_actions, domain.block_size,
               domain.features.shape[1], _action_dim(domain, self.cfg))
        if got != tuple(self.shape.values()):
            raise ValueError(f"domain shape (compressor features, blocks, actions, block_size, features, "
                             f"continuous actions) = {got} does not match this PICO model's "
                             f"{tuple(self.shape.values())}")

    @property
    def priority(self) -> np.ndarray | None:
        """The informative blocks as the masking helpers' ``priority`` (None: unrestricted, or the relaxed update)."""
        return None if self.cfg.update == "relaxed" or self.informative.all() else self.informative

    # -- deployment ---------------------------------------------------------------------------------------------
    def logits(self, features: np.ndarray) -> np.ndarray:
        features = np.asarray(features, np.float32)
        if features.ndim != 2 or features.shape[1] != self.shape["feature_dim"]:
            raise ValueError(f"features: expected (N, {self.shape['feature_dim']}), got {features.shape}")
        with torch.no_grad():
            return self.compressor(torch.from_numpy(features)).numpy().astype(np.float64)

    def masks(self, features: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Deployment masks: top-k with randomised-rounding k, or (rate-aware) the blocks with positive logits."""
        logits = self.logits(features)
        if self.cfg.rate_lambda > 0:
            return (logits > 0) & self.informative
        return topk_mask(logits, budget_to_k(self.cfg.budget, logits.shape[1], rng, len(logits)), self.priority)

    # -- training -----------------------------------------------------------------------------------------------
    def _explore_policy(self, rng: np.random.Generator):
        """Mask policy for collection: a share ``explore`` of rows random, the rest drawn around the compressor's
        top-k (Gumbel noise at ``temperature``), so R sees masks near what the compressor would keep."""
        def choose(features: np.ndarray) -> np.ndarray:
            n, num_blocks = len(features), self.shape["num_blocks"]
            if self.cfg.rate_lambda > 0:
                k = rng.integers(0, num_blocks + 1, n)
                own = (self.logits(features) > 0) & self.informative
            else:
                k = budget_to_k(self.cfg.budget, num_blocks, rng, n)
                own = gumbel_topk_mask(self.logits(features), k, rng, self.cfg.temperature, self.priority)
            explore = rng.random(n) < self.cfg.explore
            return np.where(explore[:, None], random_mask(n, num_blocks, k, rng, self.priority), own)

        return choose

    def _collect_round(self, domain: Domain, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """``passes`` passes of the exploration policy; the compressor's features are kept only for video domains
        (elsewhere they are the observations' features in every pass)."""
        passes = []
        for _ in range(self.cfg.passes):
            masks, features = domain.run_policy(self._explore_policy(rng))
            passes.append(collect(domain, masks, self.cfg.step, rng, self.cfg.discriminator == "gaussian"))
            if domain.rollout is not None:
                passes[-1]["features"] = features
        return {key: np.concatenate([p[key] for p in passes]) for key in passes[0]}

    def _train_discriminator(self, x: torch.Tensor, pos: torch.Tensor, data: dict, gen) -> torch.Tensor:
        reps = len(data["action"]) // len(x)  # positives repeated so both classes weigh the same
        xs = x.repeat(2 * reps, 1)
        negatives = torch.as_tensor(data["action"]).to(pos.dtype)
        acts = torch.cat([pos.repeat(reps, *([1] * (pos.dim() - 1))), negatives])
        labels = torch.cat([torch.ones(reps * len(pos)), torch.full((reps * len(pos),), self.cfg.negative_label)])
        bce = nn.BCELoss()

        def loss(idx):
            return bce(self.discriminator(xs[idx], acts[idx]).clamp(_LOG_EPS, 1 - _LOG_EPS), labels[idx])

        self.history["disc"] += _epochs(self.discriminator.parameters(), loss, len(xs), self.cfg.disc_epochs,
                                        self.cfg, gen)
        with torch.no_grad():
            return self.discriminator(x.repeat(reps, 1), negatives)

    def _train_reward(self, xs: torch.Tensor, data: dict, targets: torch.Tensor, gen) -> None:
        masks = _tensor(data["mask"])

        def loss(idx):
            return ((self.reward(xs[idx], masks[idx]) - targets[idx]) ** 2).mean()

        self.history["reward"] += _epochs(self.reward.parameters(), loss, len(xs), self.cfg.reward_epochs,
                                          self.cfg, gen)

    def _subsets_loss(self, x: torch.Tensor, logits: torch.Tensor, rng: np.random.Generator,
                      stats: list[float]) -> torch.Tensor:
        """-E_P[log R(x, S)] - entropy * H(P) under the subset policy, for each size k randomised rounding draws."""
        num_blocks, total, entropy = logits.shape[1], 0.0 * logits.sum(), 0.0  # k = 0 or K only: loss 0
        probs = k_distribution(self.cfg.budget, num_blocks)
        for k in map(int, np.flatnonzero(probs)):
            w = float(probs[k])
            subsets = torch.as_tensor(candidate_subsets(num_blocks, k, self.cfg.max_subsets, rng, self.priority))
            if len(subsets) < 2:  # k = 0 or K: nothing to choose
                continue
            logp = subset_log_policy(logits, subsets)
            p = logp.exp()
            log_r = torch.log(self.reward.over_masks(x, subsets) + _LOG_EPS)
            neg_h = (p * logp).sum(-1)
            total = total + w * (-(p * log_r).sum(-1) + self.cfg.entropy * neg_h).mean()
            entropy -= w * float(neg_h.detach().mean()) / np.log(2)
        stats.append(entropy)
        return total

    def _train_compressor(self, x: torch.Tensor, num_blocks: int, bits_per_block: float, gen) -> None:
        k = self.cfg.budget * num_blocks
        rng = np.random.default_rng(int(torch.randint(2**31, (1,), generator=gen)))
        informative = _tensor(self.informative)
        stats: list[float] = []
        for p in self.reward.parameters():
            p.requires_grad_(False)

        def loss(idx):
            logits = self.compressor(x[idx])
            if self.cfg.rate_lambda > 0:
                m = straight_through_mask(logits) * informative
                return -(torch.log(self.reward(x[idx], m) + _LOG_EPS)
                         - self.cfg.rate_lambda * bits_per_block * m.sum(-1)).mean()
            if self.cfg.update == "subsets":
                return self._subsets_loss(x[idx], logits, rng, stats)
            m = relaxed_mask(logits, k, self.cfg.temperature)
            stats.append(float(((m < 0.01) | (m > 0.99)).float().mean()))
            return -torch.log(self.reward(x[idx], m) + _LOG_EPS).mean()

        try:
            self.history["comp"] += _epochs(self.compressor.parameters(), loss, len(x), self.cfg.comp_epochs,
                                            self.cfg, gen)
        finally:
            for p in self.reward.parameters():
                p.requires_grad_(True)
        if stats:  # per epoch: the policy's mean entropy (bits) or the share of saturated relaxed-mask entries
            key = "comp_entropy" if self.cfg.update == "subsets" else "comp_saturation"
            self.history[key] += [float(np.mean(e)) for e in np.array_split(stats, self.cfg.comp_epochs)]

    def fit(self, domain: Domain, progress: bool = False,
            after_round: Callable[[int], None] | None = None) -> PICO:
        """Run ``cfg.rounds`` rounds of collect -> D -> R -> compressor on ``domain`` (calling ``after_round(r)``
        after each, e.g. to measure the compressor); returns self."""
        self._check(domain)
        self.informative = informative_blocks(domain.block_kl, self.cfg.informative_kl, domain.num_blocks)
        if self.cfg.rate_lambda == 0 and self.cfg.budget * domain.num_blocks in (0, domain.num_blocks):
            return self  # keep nothing or everything: no choice to learn
        rng = np.random.default_rng(self.cfg.seed)
        for r in range(self.cfg.rounds):
            self.train_round(domain.features, _positives(domain, self.cfg), self._collect_round(domain, rng),
                             domain.block_size)
            if progress:
                h = self.history
                print(f"round {r + 1}/{self.cfg.rounds}: D {h['disc'][-1]:.4f} R {h['reward'][-1]:.5f} "
                      f"C {h['comp'][-1]:.4f}", flush=True)
            if after_round is not None:
                after_round(r)
        return self

    def train_round(self, features: np.ndarray, actions: np.ndarray, data: dict[str, np.ndarray],
                    block_size: int) -> None:
        """D -> R -> compressor on collected ``data`` (``mask`` (P*N, K), ``action`` on x_hat (P*N,) or, for the
        gaussian discriminator, (P*N, A), ``mae``, optionally the compressor's ``features`` (P*N, F') when they
        differ from ``features``) for observations ``features`` (N, F) on which the user took ``actions`` (N,) or
        (N, A) (the positives).

        Rows of ``data`` are ``passes`` blocks of N in the order of ``features``; human labels come in this way.
        """
        n = len(features)
        if len(actions) != n or len(data["mask"]) % n or len(data["action"]) != len(data["mask"]):
            raise ValueError(f"collected data must be whole passes over the {n} observations, got "
                             f"{len(data['mask'])} masks and {len(data['action'])} actions for {len(actions)} "
                             f"positives")
        torch.set_num_threads(1)
        gen = torch.Generator().manual_seed(self.cfg.seed + len(self.history["disc"]))
        gaussian = self.cfg.discriminator == "gaussian"
        x = _tensor(features)
        pos = _tensor(actions) if gaussian else torch.as_tensor(np.asarray(actions, np.int64))
        if gaussian and (pos.dim() != 2 or pos.shape[1] != self.shape["action_dim"]):
            raise ValueError(f"actions: the gaussian discriminator expects continuous actions (N, "
                             f"{self.shape['action_dim']}), got {tuple(pos.shape)}")
        # R sees the compressor's features of every collected row; the compressor trains on N of them (each
        # observation once; for video, N of the rows the rollouts visited)
        if "features" in data:
            reward_x = _tensor(data["features"])
            comp_x = reward_x[torch.randperm(len(reward_x), generator=gen)[:n]]
        else:
            reward_x, comp_x = x.repeat(len(data["mask"]) // n, 1), x
        bits_per_block = block_size * max(GAUSSIAN_ENTROPY_BITS - np.log2(self.cfg.step), 0.0)
        d_out = self._train_discriminator(x, pos, data, gen)
        targets = d_out if self.cfg.objective == "agreement" else _tensor(1.0 - data["mae"])
        self._train_reward(reward_x, data, targets, gen)
        self._train_compressor(comp_x, self.shape["num_blocks"], bits_per_block, gen)

    # -- persistence --------------------------------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        """``path/pico.pt`` (state dicts) + ``path/pico.json`` (config, shape, loss history)."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        states = {name: getattr(self, name).state_dict() for name in ("compressor", "discriminator", "reward")}
        torch.save(states, path / "pico.pt")
        meta = {"config": asdict(self.cfg), "shape": self.shape, "informative": self.informative.tolist(),
                "history": self.history}
        (path / "pico.json").write_text(json.dumps(meta, indent=1))

    @classmethod
    def load(cls, path: str | Path) -> PICO:
        path = Path(path)
        if not (path / "pico.pt").is_file():
            raise FileNotFoundError(f"no PICO model in {path} (expected pico.pt and pico.json)")
        meta = json.loads((path / "pico.json").read_text())
        model = cls(**meta["shape"], cfg=PICOConfig(**meta["config"]))
        for name, state in torch.load(path / "pico.pt", weights_only=True).items():
            getattr(model, name).load_state_dict(state)
        model.history.update(meta["history"])
        model.informative = np.array(meta.get("informative", model.informative), bool)  # older models: all blocks
        return model
