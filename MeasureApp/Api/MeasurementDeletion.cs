using MeasureApp.Acquisition.Measurements;
using MeasureApp.Data;
using MeasureApp.History;
using MeasureApp.Acquisition.Storage;
using Microsoft.EntityFrameworkCore;

namespace MeasureApp.Api;

/// <summary>What a delete request did.</summary>
public enum DeletionOutcome
{
    /// <summary>Metadata and raw data are gone.</summary>
    Deleted,
    /// <summary>Unknown id, or not visible to the requester.</summary>
    NotFound,
    /// <summary>Visible (an admin looking at someone else's) but only the owner deletes.</summary>
    NotOwner,
    /// <summary>Still running (on any instance): stop it first.</summary>
    Running,
}

/// <summary>Deletes a measurement of its owner: ownership through <see cref="MeasurementCatalog"/>, raw data first, metadata last.</summary>
public static class MeasurementDeletion
{
    /// <summary>Deletes measurement <paramref name="id"/> when <paramref name="requester"/> owns it and it is stopped.</summary>
    public static async Task<DeletionOutcome> DeleteAsync(Requester requester, Guid id, MeasurementCatalog catalog, MeasurementEngine engine, ISampleStore store, IDbContextFactory<AppDbContext> contexts, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(requester);
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(engine);
        ArgumentNullException.ThrowIfNull(store);
        if (await catalog.FindAsync(requester, id, cancellationToken) is not { } record)
        {
            return DeletionOutcome.NotFound;
        }
        if (!string.Equals(record.OwnerId, requester.UserId, StringComparison.Ordinal))
        {
            return DeletionOutcome.NotOwner;
        }
        // The stored state covers measurements running on other instances too.
        if (record.State != MeasurementState.Stopped || engine.Find(id, requester) is not null)
        {
            return DeletionOutcome.Running;
        }
        // Data first, row last: an interrupted delete leaves a row that can be deleted again.
        await store.DeleteSamplesAsync(id, cancellationToken);
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        await MeasureApp.Annotations.AnnotationService.DeleteAllAsync(db, id, cancellationToken);
        await db.MeasurementTags.Where(t => t.MeasurementId == id).ExecuteDeleteAsync(cancellationToken);
        await db.MeasurementMetadata.Where(m => m.MeasurementId == id).ExecuteDeleteAsync(cancellationToken);
        await db.Measurements.Where(m => m.Id == id && m.OwnerId == requester.UserId).ExecuteDeleteAsync(cancellationToken);
        return DeletionOutcome.Deleted;
    }
}
