package io.lbmode.datapath.agent;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.concurrent.CompletableFuture;

/**
 * An {@link AgentRunner} running on a thread of its own, as {@code main} runs it: {@code run()} blocks, and on 2 cores
 * the common pool (which the HTTP client's async continuations use) has a single worker. Closing it stops the agent
 * and expects exit code 0.
 */
record RunningAgent(AgentRunner runner, CompletableFuture<Integer> exit) implements AutoCloseable {

    static RunningAgent start(AgentRunner runner) {
        CompletableFuture<Integer> exit = new CompletableFuture<>();
        Thread.ofPlatform().name("agent-under-test").start(() -> {
            try {
                exit.complete(runner.run());
            } catch (Exception e) {
                exit.completeExceptionally(e);
            }
        });
        return new RunningAgent(runner, exit);
    }

    @Override
    public void close() throws Exception {
        runner.close();
        assertThat(exit.get()).isZero();
    }
}
