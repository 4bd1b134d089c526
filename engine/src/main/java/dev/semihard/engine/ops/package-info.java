/**
 * Differentiable operations ({@link dev.semihard.engine.ops.F}): shape validation, forward kernels,
 * and the chain rule (each op records a {@link dev.semihard.engine.Node} whose backward calls the
 * backward kernels of {@link dev.semihard.engine.backend.Backend}). Nothing else in the project
 * differentiates anything.
 */
package dev.semihard.engine.ops;
