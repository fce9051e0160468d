/* queue_internal.h - hazard pointers, for the queues' own use. */
#ifndef QUEUE_INTERNAL_H
#define QUEUE_INTERNAL_H

#include "queue.h"

/* Publish *src in this CPU's hazard slot and return it once it is known to have
 * still been in *src after the hazard became visible. */
void *hp_protect(unsigned slot, void **src);
void hp_set(unsigned slot, void *p);
void hp_clear(unsigned slot);
/* p is unreachable: free it with kfree once no hazard slot holds it. */
void hp_retire(void *p);

#endif
