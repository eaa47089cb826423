package io.lbmode.crds.cluster.v1;

import io.fabric8.generator.annotation.Required;
import java.util.List;

/** One entry of {@code loadBalancer.addressPools}: ranges ({@code a.b.c.d/n} or {@code a.b.c.d-e.f.g.h}) VIPs come from. */
public class AddressPool extends Extensible {
    @Required
    public String name;
    @Required
    public List<String> addresses;
    public Boolean avoidBuggyIPs;
    public Boolean manualAssign;
}
