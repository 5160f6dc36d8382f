"""Datasets: car-racing frames, image folders, natural-image patches, CIFAR-10 / ImageNet32 files on disk."""
