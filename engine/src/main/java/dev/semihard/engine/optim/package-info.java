/**
 * Optimizers ({@link dev.semihard.engine.optim.Sgd}, {@link dev.semihard.engine.optim.Adam} /
 * AdamW, {@link dev.semihard.engine.optim.Adagrad}) whose updates are backend kernels, their
 * checkpointable state, and learning-rate schedules ({@link dev.semihard.engine.optim.LrSchedule}).
 */
package dev.semihard.engine.optim;
