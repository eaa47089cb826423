package io.lbmode.crds.nodedataplane.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import io.fabric8.kubernetes.api.model.Condition;
import java.util.List;
import java.util.Map;

/** Written by the datapath agent after each sync; {@code lastError} is absent when the last sync succeeded. */
@JsonInclude(JsonInclude.Include.NON_NULL)
public class NodeDataplaneStatus {
    /** Mode programmed in the kernel: {@code dsr} or {@code snat}. */
    public String mode;
    /** Interface the DSR programs are attached to, or SNAT traffic leaves by. */
    public String interfaceName;
    /** LoadBalancer Service ports (VIP, protocol, port) programmed. */
    public Integer services;
    /** Backends (pod address and port) programmed across all services. */
    public Integer endpoints;
    /** Increases by one with every change applied to the kernel. */
    public Long rulesetGeneration;
    /** Hash of the desired state last programmed: equal hashes mean equal rules on two nodes. */
    public String rulesetHash;
    /** RFC 3339 time of the last successful sync (also when nothing changed). */
    public String lastSyncTime;
    /** Why the last sync failed; absent when it succeeded. */
    public String lastError;
    /** Packets dropped by the datapath, by reason (DSR mode), e.g. {@code {fragNeeded: 3}}. */
    public Map<String, Long> drops;
    /** Version of the agent that wrote this status. */
    public String agentVersion;
    /**
     * {@code Programmed}: True when the kernel holds the desired state; False (reason SyncFailed, ModeChangeFailed
     * or RepairFailed, the message as in lastError) while the agent retries.
     */
    public List<Condition> conditions;
}
