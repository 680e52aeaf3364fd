/* genplug — the whole C ABI. Include this, or only the kind headers you need. */
#ifndef GENPLUG_GENPLUG_H
#define GENPLUG_GENPLUG_H

#include "version.h"
#include "status.h"
#include "context.h"
#include "entry.h"
#include "posenc.h"
#include "scheduler.h"
#include "model.h"
#include "inspector.h"

#endif /* GENPLUG_GENPLUG_H */
