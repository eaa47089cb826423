package io.lbmode.lab;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * Runs code on a platform thread that has entered a network namespace ({@code setns(2)} through java.lang.foreign),
 * so sockets the code opens (and tc programs it attaches) live in that namespace (a socket keeps its namespace for
 * life, whatever thread uses it later). Much faster than a {@code ip netns exec ... curl} subprocess per request.
 * Namespaces are per thread, so the thread is never shared with other work.
 */
public final class Netns implements AutoCloseable {
    private static final int CLONE_NEWNET = 0x40000000;
    private static final MethodHandle OPEN;
    private static final MethodHandle SETNS;
    private static final MethodHandle CLOSE;

    static {
        Linker linker = Linker.nativeLinker();
        var libc = linker.defaultLookup();
        OPEN = linker.downcallHandle(libc.find("open").orElseThrow(),
                FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_INT));
        SETNS = linker.downcallHandle(libc.find("setns").orElseThrow(),
                FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));
        CLOSE = linker.downcallHandle(libc.find("close").orElseThrow(),
                FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));
    }

    private final String name;
    private final ExecutorService thread;

    public Netns(String name) {
        this.name = name;
        thread = Executors.newSingleThreadExecutor(r -> {
            Thread t = Thread.ofPlatform().daemon().name("netns-" + name).unstarted(() -> {
                enter(name);
                r.run();
            });
            return t;
        });
    }

    private static void enter(String name) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment path = arena.allocateFrom("/run/netns/" + name);
            int fd = (int) OPEN.invokeExact(path, 0);
            if (fd < 0) {
                throw new IllegalStateException("network namespace " + name + " does not exist (/run/netns/" + name + ")");
            }
            int rc = (int) SETNS.invokeExact(fd, CLONE_NEWNET);
            int ignored = (int) CLOSE.invokeExact(fd);
            if (rc != 0) {
                throw new IllegalStateException("setns(" + name + ") failed: root is needed");
            }
        } catch (RuntimeException e) {
            throw e;
        } catch (Throwable e) {
            throw new IllegalStateException("setns(" + name + "): " + e, e);
        }
    }

    /** The namespace's name (under /run/netns). */
    public String name() {
        return name;
    }

    public <T> T call(Callable<T> task) throws Exception {
        try {
            return thread.submit(task).get();
        } catch (ExecutionException e) {
            if (e.getCause() instanceof Exception ex) {
                throw ex;
            }
            throw e;
        }
    }

    public void run(ThrowingRunnable task) throws Exception {
        call(() -> {
            task.run();
            return null;
        });
    }

    /** A task that returns nothing and may throw. */
    public interface ThrowingRunnable {
        void run() throws Exception;
    }

    @Override
    public void close() {
        thread.shutdownNow();
    }
}
