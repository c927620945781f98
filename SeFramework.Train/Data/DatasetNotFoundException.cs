// Thrown when a dataset's files are in none of the places looked; the message lists them and says how to get the data.
namespace SeFramework.Train.Data;

public sealed class DatasetNotFoundException : Exception
{
    public DatasetNotFoundException(string dataset, IReadOnlyList<string> searched, string howToGet)
        : base($"{dataset} not found. Looked in:\n" + string.Concat(searched.Select(s => "  " + s + "\n")) + howToGet)
    {
        Dataset = dataset;
        Searched = searched;
    }

    public string Dataset { get; }
    public IReadOnlyList<string> Searched { get; }
}
