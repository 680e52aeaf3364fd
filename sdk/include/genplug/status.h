/** @file
 * genplug — status codes. Values are stable forever; new codes are only ever added.
 * Every fallible ABI function returns a genplug_status; the message text travels separately through the
 * call context's error sink (context.h). A receiver treats an unknown negative code as GENPLUG_E_FAILED. */
#ifndef GENPLUG_STATUS_H
#define GENPLUG_STATUS_H

#include <stdint.h>

/** What every fallible ABI function returns: GENPLUG_OK (0) or one of the negative GENPLUG_E_* codes below.
 *  A receiver treats an unknown negative code as GENPLUG_E_FAILED. */
typedef int32_t genplug_status;

#define GENPLUG_OK 0 /**< success */
#define GENPLUG_E_FAILED (-1)           /**< unspecified failure */
#define GENPLUG_E_INVALID_ARGUMENT (-2) /**< a NULL pointer, a size out of range, a malformed struct */
#define GENPLUG_E_CONFIG (-3)           /**< a configuration that does not satisfy the plugin's schema or rules */
#define GENPLUG_E_UNSUPPORTED (-4)      /**< a valid request this plugin cannot serve (dtype, device, feature) */
#define GENPLUG_E_OUT_OF_MEMORY (-5)    /**< the host may free caches and retry */
#define GENPLUG_E_CANCELLED (-6)        /**< the host asked to stop (progress, is_cancelled, a callback's
                                             GENPLUG_E_CANCELLED), and only then; the instance stays usable */
#define GENPLUG_E_ABI_MISMATCH (-7)     /**< a library built for another ABI major (a loader's verdict; a call
                                             given a struct too small for a field it reads is
                                             GENPLUG_E_INVALID_ARGUMENT) */
#define GENPLUG_E_INTERNAL (-8)         /**< a bug in the plugin (uncaught exception, broken invariant) */
#define GENPLUG_E_IO (-9)               /**< a file could not be read or is corrupt */
#define GENPLUG_E_DEVICE (-10)          /**< the compute device failed or is unavailable */
#define GENPLUG_E_BUFFER_TOO_SMALL (-11) /**< a caller-provided buffer is too small; the needed size is reported */

#endif /* GENPLUG_STATUS_H */
