package dev.semihard.trainer.data;

/** Bad or missing input data; the message names the file, the problem and the fix. */
public class DataException extends RuntimeException {
    public DataException(String message) { super(message); }
    public DataException(String message, Throwable cause) { super(message, cause); }
}
