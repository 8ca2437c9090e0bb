/* The logs of a device (sceplab/artifacts.h): which platform writes which format, through the
 * format's own writer. Part of the log reader's formats (src/core/logs/formats/): see logs_int.h. */
#include <stdlib.h>
#include <string.h>

#include "logs/formats/writers.h"

static const struct {
  const char *name, *file;
  size_t (*write)(char *out, size_t out_cap, const sceplab_device_event *e);
} devices[] = {
  [SCEPLAB_DEVICE_WINDOWS] = {"windows", "DeviceManagement-Enterprise-Diagnostics-Provider-Admin.xml", logs_write_device_event},
  [SCEPLAB_DEVICE_ANDROID] = {"android", "OMADMLog.log", logs_write_omadm},
  [SCEPLAB_DEVICE_IOS] = {"ios", "ios-console.txt", logs_write_console},
};

int sceplab_device_named(const char *name, sceplab_device *d)
{
  size_t i;
  for(i = 0; i < sizeof(devices) / sizeof(devices[0]); i++)
    if(name && !strcmp(name, devices[i].name)) {
      *d = (sceplab_device)i;
      return 0;
    }
  return -1;
}

const char *sceplab_device_log_file(sceplab_device d)
{
  return (unsigned)d < sizeof(devices) / sizeof(devices[0]) ? devices[d].file : NULL;
}

char *sceplab_device_log_line(sceplab_device d, const sceplab_device_event *e, sceplab_error *err)
{
  /* XML escaping can take six bytes for one (a control character as U+FFFD, "&quot;") */
  size_t cap = 2048 + 12 * strlen(e->text ? e->text : "") + (e->component ? strlen(e->component) : 0) +
               (e->severity ? strlen(e->severity) : 0);
  char *out;
  if((unsigned)d >= sizeof(devices) / sizeof(devices[0]))
    return (void)sceplab_err_set(err, SCEPLAB_E_USAGE, "no such device platform"), NULL;
  if(!(out = malloc(cap)))
    return (void)sceplab_err_set(err, SCEPLAB_E_NOMEM, "out of memory"), NULL;
  if(!devices[d].write(out, cap, e)) {
    free(out);
    return (void)sceplab_err_set(err, SCEPLAB_E_USAGE, "%s event: %s", devices[d].name,
                                 d == SCEPLAB_DEVICE_WINDOWS ? "level must be 2 (error), 3 (warning) or 4 (information)"
                                 : d == SCEPLAB_DEVICE_ANDROID ? "it needs a severity and a component"
                                 : "it needs a severity"), NULL;
  }
  return out;
}
