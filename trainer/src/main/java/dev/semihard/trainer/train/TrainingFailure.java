package dev.semihard.trainer.train;

/** Training had to stop (non-finite loss or gradient, out of memory); the message says where and what to try. */
public class TrainingFailure extends RuntimeException {
    public TrainingFailure(String message) { super(message); }
    public TrainingFailure(String message, Throwable cause) { super(message, cause); }
}
