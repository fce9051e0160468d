/* agent.c - devices that work on their own: a device model with work in hand (the
 * DMA engine with descriptors posted) is an agent, and the deterministic scheduler
 * runs one step of it as one more choice at a scheduling point, so device/CPU
 * interleavings are explored like CPU/CPU ones. Outside the scheduler devices work
 * synchronously (in the register write that starts them) and no agent is asked. */
#include "sim_internal.h"
#include <arch/console.h>
#include <string.h>

static struct sim_agent agents[SIM_MAX_AGENTS];
unsigned sim_agent_count; /* slots in use, for the explorer's quick look */

int sim_agent_add(const struct sim_agent *a)
{
    for (unsigned k = 0; k < SIM_MAX_AGENTS; k++) {
        if (agents[k].ready && agents[k].ctx == a->ctx)
            return (int)k; /* the device attached again: the same agent */
    }
    for (unsigned k = 0; k < SIM_MAX_AGENTS; k++) {
        if (!agents[k].ready) {
            agents[k] = *a;
            sim_agent_count++;
            return (int)k;
        }
    }
    kprintf("# sim: no room for device '%s' as an agent (%u at most)\n", a->name, SIM_MAX_AGENTS);
    return -1;
}

void sim_agent_remove(void *ctx)
{
    for (unsigned k = 0; k < SIM_MAX_AGENTS; k++) {
        if (agents[k].ready && agents[k].ctx == ctx) {
            memset(&agents[k], 0, sizeof(agents[k]));
            sim_agent_count--;
        }
    }
}

unsigned sim_agents_ready(void)
{
    unsigned m = 0;
    for (unsigned k = 0; k < SIM_MAX_AGENTS; k++)
        if (agents[k].ready && agents[k].ready(agents[k].ctx))
            m |= 1u << k;
    return m;
}

void sim_agent_step(unsigned k)
{
    if (k < SIM_MAX_AGENTS && agents[k].step)
        agents[k].step(agents[k].ctx);
}

void sim_agents_forget_work(void)
{
    for (unsigned k = 0; k < SIM_MAX_AGENTS; k++)
        if (agents[k].forget)
            agents[k].forget(agents[k].ctx);
}

void sim_agent_reset(void)
{
    memset(agents, 0, sizeof(agents));
    sim_agent_count = 0;
}
