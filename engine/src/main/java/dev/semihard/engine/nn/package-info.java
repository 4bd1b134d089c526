/**
 * Layers and models built on {@link dev.semihard.engine.ops.F}: {@link dev.semihard.engine.nn.Module}
 * (named parameters and buffers, train/eval mode), {@link dev.semihard.engine.nn.Conv2d},
 * {@link dev.semihard.engine.nn.BatchNorm2d}, {@link dev.semihard.engine.nn.Linear},
 * {@link dev.semihard.engine.nn.BasicBlock}, {@link dev.semihard.engine.nn.Sequential}, and the two
 * reference models of {@link dev.semihard.engine.nn.Models} with PyTorch-style state names
 * ({@code conv1.weight}, {@code block2.downsample.1.running_var}, ...).
 */
package dev.semihard.engine.nn;
