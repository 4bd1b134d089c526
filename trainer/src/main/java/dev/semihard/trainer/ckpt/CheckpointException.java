package dev.semihard.trainer.ckpt;

/** A checkpoint that cannot be read or does not fit the run; the message says why and what to do. */
public class CheckpointException extends RuntimeException {
    public CheckpointException(String message) { super(message); }
    public CheckpointException(String message, Throwable cause) { super(message, cause); }
}
