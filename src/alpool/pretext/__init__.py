"""Pretext tasks (``alpool pretrain --task NAME``): vae, simclr, scan, proxy, precomputed, torchvision.

Each task is declared here; its module is imported when it is first built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from alpool.core.registry import ClassRegistry, lazy_exports

if TYPE_CHECKING:
    from alpool.pretext.base import PretextTask, PretrainArtifacts, PretrainContext, PretrainOutput

__all__ = ["TASKS", "PretextTask", "PretrainArtifacts", "PretrainContext", "PretrainOutput"]

TASKS: ClassRegistry[PretextTask] = ClassRegistry("task")
TASKS.declare("precomputed", "alpool.pretext.external",
              "embeddings computed elsewhere (DINOv2, CLIP, ...): --param file=EMB.npy [N, D] in dataset order, "
              "or .npz with paths + embeddings")
TASKS.declare("proxy", "alpool.pretext.proxy",
              "supervised classifier trained on the TEST split [CS cold bench]; proba, embeddings", oracle=True)
TASKS.declare("scan", "alpool.pretext.scan",
              "SCAN clustering [SCAN] from simclr: cluster ids and confidences (needs simclr)")
TASKS.declare("simclr", "alpool.pretext.simclr",
              "contrastive SimCLR [IP, SCAN]; embeddings, per-image loss, confidence/variability [CS]")
TASKS.declare("torchvision", "alpool.pretext.external",
              "a torchvision backbone with local weights: --param arch=resnet50 --param weights=PATH.pth (no "
              "download, no training)")
TASKS.declare("vae", "alpool.pretext.vae",
              "convolutional VAE [IP]; per-image loss, recon, kl; embeddings = latent mean")


__getattr__ = lazy_exports(__name__, {
    "PretextTask": "alpool.pretext.base",
    "PretrainArtifacts": "alpool.pretext.base",
    "PretrainContext": "alpool.pretext.base",
    "PretrainOutput": "alpool.pretext.base"})
