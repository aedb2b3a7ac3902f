/**
 * Events per page, part of the port (`BatchWriter.stagePage`): a page is EVENT_PAGE consecutive events of
 * one stream starting at seq 1, 1 + EVENT_PAGE, 1 + 2 * EVENT_PAGE, ... Derived data every adapter may
 * keep to fold long streams in whole steps. Changing it moves page boundaries: pages already written
 * would no longer be found where a fold looks for them.
 */
export const EVENT_PAGE = 64;
