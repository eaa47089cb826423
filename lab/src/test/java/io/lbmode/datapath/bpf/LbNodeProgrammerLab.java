package io.lbmode.datapath.bpf;

import io.lbmode.lab.Lab;
import io.lbmode.lab.LabSpec;
import io.lbmode.lab.LabSupport;
import io.lbmode.lab.Netns;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;

/**
 * A lab of its own per test with a {@link DsrProgrammer} for the LB node (root, no agent, no traffic needed): the
 * tests that drive the programmer directly and read its maps. The programmer's maps are removed after each test.
 */
abstract class LbNodeProgrammerLab {
    /** The Maglev table size of {@link #programmer}: small, so whole tables are quick to read and compare. */
    static final int M = 251;

    Lab lab;
    Netns lb;
    DsrProgrammer programmer;

    @BeforeEach
    void startLab() throws Exception {
        LabSupport.requireRoot();
        lab = Lab.start(new LabSpec(LabSpec.unique().prefix(), false));
        lb = new Netns(lab.ns(Lab.LB));
        programmer = new DsrProgrammer("eth0", lab.bpffs(Lab.LB), M);
    }

    @AfterEach
    void removeLab() throws Exception {
        try {
            if (programmer != null && lb != null) {
                lb.run(() -> programmer.cleanup());
            }
        } finally {
            if (lb != null) {
                lb.close();
            }
            if (lab != null) {
                lab.close();
            }
        }
    }
}
